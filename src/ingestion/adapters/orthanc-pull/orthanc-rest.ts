import { Readable } from 'node:stream';

export interface OrthancChange {
  seq: number;
  changeType: string;
  resourceType: string;
  id: string;
}

export interface OrthancChanges {
  changes: OrthancChange[];
  last: number;
  done: boolean;
}

export class OrthancRestError extends Error {}

/**
 * The only code that talks to an Orthanc's REST API (a vendor-specific pull source): its change
 * feed (`/changes`, PS: Orthanc Book "Changes") and instance files. Credentials, when configured,
 * go as HTTP basic auth; every request has a timeout.
 */
export class OrthancRest {
  constructor(
    private readonly baseUrl: string,
    private readonly auth: { username: string; password: string } | null,
    private readonly timeoutMs = 60_000,
  ) {}

  async changes(since: number, limit: number): Promise<OrthancChanges> {
    const body = (await this.json(`/changes?since=${since}&limit=${limit}`)) as {
      Changes?: { Seq: number; ChangeType: string; ResourceType: string; ID: string }[];
      Last?: number;
      Done?: boolean;
    };
    if (!Array.isArray(body.Changes) || typeof body.Last !== 'number') {
      throw new OrthancRestError('the change feed answered something that is not a change list');
    }
    return {
      changes: body.Changes.map((c) => ({
        seq: c.Seq,
        changeType: c.ChangeType,
        resourceType: c.ResourceType,
        id: c.ID,
      })),
      last: body.Last,
      done: body.Done === true,
    };
  }

  /** An instance's Part 10 file, streamed, and its size when Orthanc says it. */
  async instanceFile(id: string): Promise<{ data: Readable; size: number | null }> {
    if (!/^[0-9a-f-]{10,80}$/.test(id)) throw new OrthancRestError('not an Orthanc instance id');
    const res = await this.request(`/instances/${id}/file`);
    const length = Number(res.headers.get('content-length'));
    return {
      data: Readable.fromWeb(res.body! as import('node:stream/web').ReadableStream),
      size: Number.isFinite(length) ? length : null,
    };
  }

  private async json(path: string): Promise<unknown> {
    const res = await this.request(path);
    try {
      return await res.json();
    } catch {
      throw new OrthancRestError(`${path}: the answer is not JSON`);
    }
  }

  private async request(path: string): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.auth) {
      headers.authorization = `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`;
    }
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        headers,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new OrthancRestError(
        `${this.baseUrl} is unreachable: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new OrthancRestError(`${path}: HTTP ${res.status}`);
    }
    return res;
  }
}
