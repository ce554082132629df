/**
 * Imported first by the standalone server: argon2 hashes and SQLite queries share libuv's thread
 * pool (4 threads by default), so queries queued behind hashes slow every login down. A larger
 * pool keeps threads free for the database. Must run before anything uses the pool.
 */
process.env.UV_THREADPOOL_SIZE ??= '8';
