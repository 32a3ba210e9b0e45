import { Injectable, Logger } from '@nestjs/common';

export type StudyAccessListener = (studyInstanceUids: readonly string[]) => Promise<void> | void;

/**
 * "These studies were just read": published by the catalog when a read is recorded, for whoever
 * acts on access (the lifecycle recalls a study read from warm or cold to hot). An event, so that
 * retrieval does not depend on the lifecycle. In-process: each node handles its own reads.
 */
@Injectable()
export class StudyAccessEvents {
  private readonly logger = new Logger('Catalog');
  private readonly listeners: StudyAccessListener[] = [];

  onAccess(listener: StudyAccessListener): void {
    this.listeners.push(listener);
  }

  /** Calls every listener; a listener's failure is logged, never the reader's problem. */
  publish(studyInstanceUids: readonly string[]): void {
    for (const listener of this.listeners) {
      Promise.resolve()
        .then(() => listener(studyInstanceUids))
        .catch((e: unknown) => this.logger.error(`a study access listener failed: ${String(e)}`));
    }
  }
}
