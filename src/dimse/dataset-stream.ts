// The Readable a handler receives a data set through. It is fed PDV fragments (subarrays of the
// socket's own chunks, never copied) and tells the association when the consumer wants more,
// which is how socket backpressure is released: push() returning false pauses the socket, _read
// resumes it.

import { Readable } from 'node:stream';

export class DatasetStream extends Readable {
  constructor(
    private readonly onPull: (stream: DatasetStream) => void,
    highWaterMark: number,
  ) {
    super({ highWaterMark });
  }

  override _read(): void {
    this.onPull(this);
  }
}
