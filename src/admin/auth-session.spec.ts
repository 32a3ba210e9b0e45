import { describe, expect, it } from 'vitest';
import { ConfigTokenSession, SESSION_RULE } from './auth-session.js';

describe('a session of the configured admin token', () => {
  const idle = SESSION_RULE.idleSeconds * 1000;

  it('begins at the first use, and again after an idle time, not on every use', () => {
    const s = new ConfigTokenSession();
    expect(s.use(1_000)).toBe(true);
    expect(s.use(2_000)).toBe(false);
    expect(s.use(2_000 + idle - 1)).toBe(false);
    expect(s.use(2_000 + idle - 1 + idle + 1)).toBe(true);
  });

  it('begins again once a day however busy the token is', () => {
    const s = new ConfigTokenSession();
    const day = SESSION_RULE.maxSeconds * 1000;
    expect(s.use(0)).toBe(true);
    let t = 0;
    while (t + 60_000 <= day) {
      t += 60_000;
      expect(s.use(t)).toBe(false);
    }
    expect(s.use(t + 60_000)).toBe(true);
  });
});
