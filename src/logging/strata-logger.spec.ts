import { ConsoleLogger, Logger } from '@nestjs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { bindLogFields, runWithLogFields } from './log-context.js';
import { StrataLogger, type StrataLoggerOptions } from './strata-logger.js';

function logger(options: Partial<StrataLoggerOptions> = {}) {
  const lines: string[] = [];
  const l = new StrataLogger({
    level: 'info',
    format: 'json',
    write: (line) => lines.push(line),
    ...options,
  });
  const parsed = () => lines.map((x) => JSON.parse(x) as Record<string, unknown>);
  return { l, lines, parsed };
}

describe('StrataLogger', () => {
  afterEach(() => Logger.overrideLogger(new ConsoleLogger()));

  it("writes Nest's `new Logger(context)` calls as one JSON object a line, with fields", () => {
    const { l, lines, parsed } = logger();
    Logger.overrideLogger(l);
    new Logger('Ingestion').log('stored', { instances: 3 });
    new Logger('Ingestion').error('failed', 'Error: x\n    at y', undefined);
    new Logger('Ingestion').debug('not at info level');
    expect(lines.every((x) => x.endsWith('\n') && !x.slice(0, -1).includes('\n'))).toBe(true);
    expect(parsed()).toEqual([
      expect.objectContaining({ level: 'info', context: 'Ingestion', msg: 'stored', instances: 3 }),
      expect.objectContaining({ level: 'error', context: 'Ingestion', msg: 'failed' }),
    ]);
    expect(parsed()[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('adds the correlation fields of the work in progress, also across awaits and bound callbacks', async () => {
    const { l, parsed } = logger();
    await runWithLogFields({ requestId: 'r-1' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      l.log('inside', 'Test');
    });
    const bound = bindLogFields({ association: 'a-1' }, () => l.log('bound', 'Test'));
    setImmediate(bound);
    await new Promise((r) => setImmediate(r));
    l.log('outside', 'Test');
    expect(parsed().map((x) => [x.msg, x.requestId, x.association])).toEqual([
      ['inside', 'r-1', undefined],
      ['bound', undefined, 'a-1'],
      ['outside', undefined, undefined],
    ]);
  });

  it('redacts fields that could hold patient data or credentials', () => {
    const { l, lines } = logger();
    l.warn(
      'odd',
      { patientName: 'Doe^Jane', query: { PatientID: 'X1' }, nested: { PatientID: 'X2' } },
      'T',
    );
    const text = lines.join('');
    expect(text).not.toMatch(/Doe|X1|X2/);
    expect(text).toContain('[redacted]');
  });

  it('honours the level, and the text format is one readable line', () => {
    const quiet = logger({ level: 'warn' });
    quiet.l.log('dropped', 'T');
    quiet.l.warn('kept', 'T');
    expect(quiet.parsed().map((x) => x.msg)).toEqual(['kept']);

    const text = logger({ format: 'text', level: 'debug' });
    text.l.debug('hello', { association: 'a-2', n: 1 }, 'DIMSE');
    expect(text.lines).toHaveLength(1);
    expect(text.lines[0]).toMatch(/^\S+Z DEBUG \[DIMSE\] hello association=a-2 n=1\n$/);
  });
});
