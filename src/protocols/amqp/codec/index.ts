/** The AMQP 0-9-1 codec: pure functions from bytes to typed frames and back. */
export { ByteReader, ByteWriter } from './bytes.js';
export { AmqpCodecError, CodecReplyCode, isAmqpCodecError } from './errors.js';
export * from './field-table.js';
export * from './frame.js';
export * from './generated.js';
