import { Inject, Injectable } from '@nestjs/common';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';

/**
 * The lifecycle's notion of "now". Retention and tiering are about years: tests move this clock
 * instead of sleeping (STRATA_TEST_NOW sets it for a whole process; `set` moves it in-process).
 */
@Injectable()
export class Clock {
  private fixed: Date | null;

  constructor(@Inject(STRATA_CONFIG) config: StrataConfig) {
    this.fixed = config.lifecycle.testNow;
  }

  now(): Date {
    return this.fixed ? new Date(this.fixed) : new Date();
  }

  /** Tests only: from now on, `now()` answers this date. */
  set(date: Date): void {
    this.fixed = new Date(date);
  }
}
