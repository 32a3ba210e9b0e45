import { lstat, mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { type ListedFile } from './stable-files.js';

/** Where a drop folder's files go once handled: kept, never deleted (nothing is lost). */
export const IMPORTED = '.imported';
export const REFUSED = '.refused';

/** The filesystem side of a drop folder: listing it, and moving handled files out of the way. */
export class DropFolderRepository {
  now(): number {
    return Date.now();
  }

  async isFolder(root: string): Promise<boolean> {
    return (await stat(root).catch(() => null))?.isDirectory() ?? false;
  }

  /** Regular files under `root` (hidden ones and .imported/.refused left out; links not followed). */
  async list(root: string, under = ''): Promise<ListedFile[]> {
    const out: ListedFile[] = [];
    for (const e of await readdir(join(root, under), { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const path = under ? `${under}/${e.name}` : e.name;
      if (e.isDirectory()) out.push(...(await this.list(root, path)));
      else if (e.isFile()) {
        const info = await lstat(join(root, path)).catch(() => null);
        if (info) out.push({ path, size: info.size, mtimeMs: info.mtimeMs });
      }
    }
    return out;
  }

  /**
   * Moves a handled file to `<root>/<area>/<path>` (a new name if one is there already), with
   * `<name>.reason.txt` beside it when a reason is given. Returns the new path, relative to root.
   */
  async moveTo(root: string, path: string, area: string, reason?: string): Promise<string> {
    let target = join(area, path);
    if (await lstat(join(root, target)).catch(() => null)) {
      const ext = extname(target);
      target = `${target.slice(0, target.length - ext.length)}.${this.now()}${ext}`;
    }
    await mkdir(dirname(join(root, target)), { recursive: true });
    if (reason !== undefined) await writeFile(join(root, `${target}.reason.txt`), reason);
    await rename(join(root, path), join(root, target));
    return target;
  }
}
