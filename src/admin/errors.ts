/** An answer other than 200 that a route decides: its status, RabbitMQ's error word and a reason. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
