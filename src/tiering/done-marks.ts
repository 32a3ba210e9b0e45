/**
 * 'done' marks of a job's entries, written several at a time: a crash before they are written
 * only makes the resumed job delete the same old objects again, which is harmless.
 */
export class DoneMarks {
  private ids: string[] = [];

  constructor(
    private readonly write: (ids: string[]) => Promise<void>,
    private readonly afterWrite: () => void,
  ) {}

  async add(id: string): Promise<void> {
    this.ids.push(id);
    if (this.ids.length >= 16) await this.flush();
  }

  async flush(): Promise<void> {
    const ids = this.ids;
    this.ids = [];
    if (ids.length === 0) return;
    await this.write(ids);
    this.afterWrite();
  }
}
