/**
 * fastify-autogen-stream/redis: runs on Python worker hosts behind Redis
 * Streams, read by any number of gateways (docs/redis.md).
 *
 *   await app.register(autogenStream, { runs: redisRuns({ url: 'redis://redis:6379' }) })
 */
export { redisRuns, REDIS_OPTION_NAMES, type RedisRunsOptions } from './runs.js'
export type { RunsFactory } from '../directory.js'
