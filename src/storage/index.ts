export { FileStorage, type FileStorageOptions } from './file/storage.js';
export { MemoryStorage } from './memory.js';
export * from './types.js';
