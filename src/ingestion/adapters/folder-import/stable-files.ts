/** A file as one listing of a drop folder saw it. */
export interface ListedFile {
  /** Relative to the drop folder, '/'-separated. */
  path: string;
  size: number;
  mtimeMs: number;
}

/**
 * Which files of a drop folder are complete: those whose size and modification time this process
 * has seen unchanged for `stableMs`. Judged on observations, not on the mtime's age alone, so that
 * a clock skew between a file server and this node cannot make a file being written look old,
 * and a file already there at start waits its turn like any other.
 */
export class StableFiles {
  private readonly seen = new Map<string, { size: number; mtimeMs: number; since: number }>();

  constructor(private readonly stableMs: number) {}

  /** Records a listing taken at `now` (ms); returns the paths that are stable, in listing order. */
  observe(listing: readonly ListedFile[], now: number): string[] {
    const listed = new Set<string>();
    const stable: string[] = [];
    for (const f of listing) {
      listed.add(f.path);
      const before = this.seen.get(f.path);
      if (!before || before.size !== f.size || before.mtimeMs !== f.mtimeMs) {
        this.seen.set(f.path, { size: f.size, mtimeMs: f.mtimeMs, since: now });
      } else if (now - before.since >= this.stableMs) {
        stable.push(f.path);
      }
    }
    for (const path of this.seen.keys()) if (!listed.has(path)) this.seen.delete(path);
    return stable;
  }

  forget(path: string): void {
    this.seen.delete(path);
  }
}
