import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type SourceConfig } from '../../config/index.js';
import { ProfileError, validateProfiles, VendorProfiles } from './profile-loader.js';

const dirs: string[] = [];
function policies(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-profiles-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    if (name.endsWith('/')) mkdirSync(join(dir, name), { recursive: true });
    else writeFileSync(join(dir, name), text);
  }
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function source(name: string, profile: string | null): SourceConfig {
  return { name, adapter: 'stow-push', peer: null, profile, schedule: null, options: {} };
}

describe('VendorProfiles.load', () => {
  it('loads the profiles and resolves each source to its profile', () => {
    const dir = policies({
      'profiles/ge.yaml': 'reason: r\nrules:\n  - patientId: { prefix: GE- }\n',
      'profiles/generic.yml': 'rules: []\n',
      'profiles/README.md': '# notes\n',
      'profiles/.gitkeep': '',
    });
    const set = VendorProfiles.load(dir, {
      pacs: source('pacs', 'ge'),
      other: source('other', null),
    });
    expect([...set.all.keys()]).toEqual(['ge', 'generic']);
    expect(set.for('pacs')?.name).toBe('ge');
    expect(set.for('other')).toBeNull();
    expect(set.for('stow:admin')).toBeNull();
    expect(set.for(null)).toBeNull();
  });

  it('no profiles folder: no profiles, and sources may not name one', () => {
    const dir = policies({});
    expect(VendorProfiles.load(dir, { a: source('a', null) }).all.size).toBe(0);
    expect(() => VendorProfiles.load(dir, { a: source('a', 'ge') })).toThrow(
      /config file: sources\.a\.profile: no profile 'ge' in .*profiles \(profiles: none\)/,
    );
  });

  it('an invalid file stops the load with file:line messages; a source naming it is not reported twice', () => {
    const dir = policies({
      'profiles/bad.yaml':
        'reason: r\nrules:\n  - set: { attribute: SOPInstanceUID, value: "1" }\n',
      'profiles/ok.yaml': 'rules: []\n',
      'profiles/notes.txt': 'x',
      'profiles/sub/': '',
    });
    let error: ProfileError | undefined;
    try {
      VendorProfiles.load(dir, { a: source('a', 'bad'), b: source('b', 'missing') });
    } catch (e) {
      error = e as ProfileError;
    }
    expect(error).toBeInstanceOf(ProfileError);
    expect(error!.problems).toEqual([
      'profiles/bad.yaml:3: rules[0].set.attribute: SOPInstanceUID (0008,0018) cannot be rewritten: rewriting identifiers breaks storage commitment and retrieval',
      'profiles/notes.txt: unknown file (profiles/ holds only <name>.yaml profiles and Markdown files)',
      'profiles/sub/: unknown file (profiles/ holds only <name>.yaml profiles and Markdown files)',
      expect.stringMatching(
        /^config file: sources\.b\.profile: no profile 'missing' in .* \(profiles: ok\)$/,
      ),
    ]);
  });

  it('two files for one profile name are an error', () => {
    const dir = policies({ 'profiles/a.yaml': 'rules: []\n', 'profiles/a.yml': 'rules: []\n' });
    expect(validateProfiles(dir).issues.map((i) => `${i.file}: ${i.message}`)).toEqual([
      "profiles/a.yml: profile 'a' is also defined by profiles/a.yaml",
    ]);
  });
});
