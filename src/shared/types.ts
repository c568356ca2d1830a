/** `T` with its fields writable: for an object put together field by field before it is handed out read-only. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };
