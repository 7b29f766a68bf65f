/**
 * What redis-server 7.0 says of each command (COMMAND INFO), as far as the errors the proxy
 * injects depend on it: which kinds a real server in that state gives the command
 * (redis-refusals.ts). Subcommands are `CONTAINER|SUB`, as COMMAND INFO names them. Derived
 * from redis-server 7.0.15; test/redis-commands.test.ts checks it against the redis-server at
 * hand, command by command, and its failure shows what differs.
 *
 * Letters: w `write`, o `denyoom`, l `loading`, s `stale`, b `allow_busy`, a `no_auth`
 * (COMMAND INFO's flags), k names keys (key specs, or `movablekeys`), m may name several
 * (`movablekeys`, more than one key spec, or a key range).
 */
export const COMMAND_FLAGS: Readonly<Record<string, string>> = {
  ACL: '', 'ACL|CAT': 'ls', 'ACL|DELUSER': 'ls', 'ACL|DRYRUN': 'ls', 'ACL|GENPASS': 'ls', 'ACL|GETUSER': 'ls',
  'ACL|HELP': 'ls', 'ACL|LIST': 'ls', 'ACL|LOAD': 'ls', 'ACL|LOG': 'ls', 'ACL|SAVE': 'ls', 'ACL|SETUSER': 'ls',
  'ACL|USERS': 'ls', 'ACL|WHOAMI': 'ls', APPEND: 'wok', ASKING: '', AUTH: 'lsba', BGREWRITEAOF: '', BGSAVE: '',
  BITCOUNT: 'k', BITFIELD: 'wok', BITFIELD_RO: 'k', BITOP: 'wokm', BITPOS: 'k', BLMOVE: 'wokm', BLMPOP: 'wkm',
  BLPOP: 'wkm', BRPOP: 'wkm', BRPOPLPUSH: 'wokm', BZMPOP: 'wkm', BZPOPMAX: 'wkm', BZPOPMIN: 'wkm', CLIENT: '',
  'CLIENT|CACHING': 'ls', 'CLIENT|GETNAME': 'ls', 'CLIENT|GETREDIR': 'ls', 'CLIENT|HELP': 'ls', 'CLIENT|ID': 'ls',
  'CLIENT|INFO': 'ls', 'CLIENT|KILL': 'ls', 'CLIENT|LIST': 'ls', 'CLIENT|NO-EVICT': 'ls', 'CLIENT|PAUSE': 'ls',
  'CLIENT|REPLY': 'ls', 'CLIENT|SETNAME': 'ls', 'CLIENT|TRACKING': 'ls', 'CLIENT|TRACKINGINFO': 'ls',
  'CLIENT|UNBLOCK': 'ls', 'CLIENT|UNPAUSE': 'ls', CLUSTER: '', 'CLUSTER|ADDSLOTS': 's', 'CLUSTER|ADDSLOTSRANGE': 's',
  'CLUSTER|BUMPEPOCH': 's', 'CLUSTER|COUNT-FAILURE-REPORTS': 's', 'CLUSTER|COUNTKEYSINSLOT': 's',
  'CLUSTER|DELSLOTS': 's', 'CLUSTER|DELSLOTSRANGE': 's', 'CLUSTER|FAILOVER': 's', 'CLUSTER|FLUSHSLOTS': 's',
  'CLUSTER|FORGET': 's', 'CLUSTER|GETKEYSINSLOT': 's', 'CLUSTER|HELP': 'ls', 'CLUSTER|INFO': 's',
  'CLUSTER|KEYSLOT': 's', 'CLUSTER|LINKS': 's', 'CLUSTER|MEET': 's', 'CLUSTER|MYID': 's', 'CLUSTER|NODES': 's',
  'CLUSTER|REPLICAS': 's', 'CLUSTER|REPLICATE': 's', 'CLUSTER|RESET': 's', 'CLUSTER|SAVECONFIG': 's',
  'CLUSTER|SET-CONFIG-EPOCH': 's', 'CLUSTER|SETSLOT': 's', 'CLUSTER|SHARDS': 's', 'CLUSTER|SLAVES': 's',
  'CLUSTER|SLOTS': 's', COMMAND: 'ls', 'COMMAND|COUNT': 'ls', 'COMMAND|DOCS': 'ls', 'COMMAND|GETKEYS': 'ls',
  'COMMAND|GETKEYSANDFLAGS': 'ls', 'COMMAND|HELP': 'ls', 'COMMAND|INFO': 'ls', 'COMMAND|LIST': 'ls', CONFIG: '',
  'CONFIG|GET': 'ls', 'CONFIG|HELP': 'ls', 'CONFIG|RESETSTAT': 'ls', 'CONFIG|REWRITE': 'ls', 'CONFIG|SET': 'ls',
  COPY: 'wokm', DBSIZE: '', DEBUG: 'ls', DECR: 'wok', DECRBY: 'wok', DEL: 'wkm', DISCARD: 'lsb', DUMP: 'k',
  ECHO: 'ls', EVAL: 'skm', EVALSHA: 'skm', EVALSHA_RO: 'skm', EVAL_RO: 'skm', EXEC: 'ls', EXISTS: 'km', EXPIRE: 'wk',
  EXPIREAT: 'wk', EXPIRETIME: 'k', FAILOVER: 's', FCALL: 'skm', FCALL_RO: 'skm', FLUSHALL: 'w', FLUSHDB: 'w',
  FUNCTION: '', 'FUNCTION|DELETE': 'w', 'FUNCTION|DUMP': '', 'FUNCTION|FLUSH': 'w', 'FUNCTION|HELP': 'ls',
  'FUNCTION|KILL': 'b', 'FUNCTION|LIST': '', 'FUNCTION|LOAD': 'wo', 'FUNCTION|RESTORE': 'wo', 'FUNCTION|STATS': 'b',
  GEOADD: 'wok', GEODIST: 'k', GEOHASH: 'k', GEOPOS: 'k', GEORADIUS: 'wokm', GEORADIUSBYMEMBER: 'wokm',
  GEORADIUSBYMEMBER_RO: 'k', GEORADIUS_RO: 'k', GEOSEARCH: 'k', GEOSEARCHSTORE: 'wokm', GET: 'k', GETBIT: 'k',
  GETDEL: 'wk', GETEX: 'wk', GETRANGE: 'k', GETSET: 'wok', HDEL: 'wk', HELLO: 'lsba', HEXISTS: 'k', HGET: 'k',
  HGETALL: 'k', HINCRBY: 'wok', HINCRBYFLOAT: 'wok', HKEYS: 'k', HLEN: 'k', HMGET: 'k', HMSET: 'wok', HRANDFIELD: 'k',
  HSCAN: 'k', HSET: 'wok', HSETNX: 'wok', HSTRLEN: 'k', HVALS: 'k', INCR: 'wok', INCRBY: 'wok', INCRBYFLOAT: 'wok',
  INFO: 'ls', KEYS: '', LASTSAVE: 'ls', LATENCY: '', 'LATENCY|DOCTOR': 'ls', 'LATENCY|GRAPH': 'ls',
  'LATENCY|HELP': 'ls', 'LATENCY|HISTOGRAM': 'ls', 'LATENCY|HISTORY': 'ls', 'LATENCY|LATEST': 'ls',
  'LATENCY|RESET': 'ls', LCS: 'km', LINDEX: 'k', LINSERT: 'wok', LLEN: 'k', LMOVE: 'wokm', LMPOP: 'wkm', LOLWUT: '',
  LPOP: 'wk', LPOS: 'k', LPUSH: 'wok', LPUSHX: 'wok', LRANGE: 'k', LREM: 'wk', LSET: 'wok', LTRIM: 'wk', MEMORY: '',
  'MEMORY|DOCTOR': '', 'MEMORY|HELP': 'ls', 'MEMORY|MALLOC-STATS': '', 'MEMORY|PURGE': '', 'MEMORY|STATS': '',
  'MEMORY|USAGE': 'k', MGET: 'km', MIGRATE: 'wkm', MODULE: '', 'MODULE|HELP': 'ls', 'MODULE|LIST': '',
  'MODULE|LOAD': '', 'MODULE|LOADEX': '', 'MODULE|UNLOAD': '', MONITOR: 'ls', MOVE: 'wk', MSET: 'wokm',
  MSETNX: 'wokm', MULTI: 'lsb', OBJECT: '', 'OBJECT|ENCODING': 'k', 'OBJECT|FREQ': 'k', 'OBJECT|HELP': 'ls',
  'OBJECT|IDLETIME': 'k', 'OBJECT|REFCOUNT': 'k', PERSIST: 'wk', PEXPIRE: 'wk', PEXPIREAT: 'wk', PEXPIRETIME: 'k',
  PFADD: 'wok', PFCOUNT: 'km', PFDEBUG: 'wok', PFMERGE: 'wokm', PFSELFTEST: '', PING: '', PSETEX: 'wok',
  PSUBSCRIBE: 'ls', PSYNC: '', PTTL: 'k', PUBLISH: 'ls', PUBSUB: '', 'PUBSUB|CHANNELS': 'ls', 'PUBSUB|HELP': 'ls',
  'PUBSUB|NUMPAT': 'ls', 'PUBSUB|NUMSUB': 'ls', 'PUBSUB|SHARDCHANNELS': 'ls', 'PUBSUB|SHARDNUMSUB': 'ls',
  PUNSUBSCRIBE: 'ls', QUIT: 'lsba', RANDOMKEY: '', READONLY: 'ls', READWRITE: 'ls', RENAME: 'wkm', RENAMENX: 'wkm',
  REPLCONF: 'lsb', REPLICAOF: 's', RESET: 'lsba', RESTORE: 'wok', 'RESTORE-ASKING': 'wok', ROLE: 'ls', RPOP: 'wk',
  RPOPLPUSH: 'wokm', RPUSH: 'wok', RPUSHX: 'wok', SADD: 'wok', SAVE: '', SCAN: '', SCARD: 'k', SCRIPT: '',
  'SCRIPT|DEBUG': '', 'SCRIPT|EXISTS': '', 'SCRIPT|FLUSH': '', 'SCRIPT|HELP': 'ls', 'SCRIPT|KILL': 'b',
  'SCRIPT|LOAD': 's', SDIFF: 'km', SDIFFSTORE: 'wokm', SELECT: 'ls', SET: 'wok', SETBIT: 'wok', SETEX: 'wok',
  SETNX: 'wok', SETRANGE: 'wok', SHUTDOWN: 'lsb', SINTER: 'km', SINTERCARD: 'km', SINTERSTORE: 'wokm', SISMEMBER: 'k',
  SLAVEOF: 's', SLOWLOG: '', 'SLOWLOG|GET': 'ls', 'SLOWLOG|HELP': 'ls', 'SLOWLOG|LEN': 'ls', 'SLOWLOG|RESET': 'ls',
  SMEMBERS: 'k', SMISMEMBER: 'k', SMOVE: 'wkm', SORT: 'wokm', SORT_RO: 'km', SPOP: 'wk', SPUBLISH: 'lsk',
  SRANDMEMBER: 'k', SREM: 'wk', SSCAN: 'k', SSUBSCRIBE: 'lskm', STRLEN: 'k', SUBSCRIBE: 'ls', SUBSTR: 'k',
  SUNION: 'km', SUNIONSTORE: 'wokm', SUNSUBSCRIBE: 'lskm', SWAPDB: 'w', SYNC: '', TIME: 'ls', TOUCH: 'km', TTL: 'k',
  TYPE: 'k', UNLINK: 'wkm', UNSUBSCRIBE: 'ls', UNWATCH: 'lsb', WAIT: '', WATCH: 'lsbkm', XACK: 'wk', XADD: 'wok',
  XAUTOCLAIM: 'wk', XCLAIM: 'wk', XDEL: 'wk', XGROUP: '', 'XGROUP|CREATE': 'wok', 'XGROUP|CREATECONSUMER': 'wok',
  'XGROUP|DELCONSUMER': 'wk', 'XGROUP|DESTROY': 'wk', 'XGROUP|HELP': 'ls', 'XGROUP|SETID': 'wk', XINFO: '',
  'XINFO|CONSUMERS': 'k', 'XINFO|GROUPS': 'k', 'XINFO|HELP': 'ls', 'XINFO|STREAM': 'k', XLEN: 'k', XPENDING: 'k',
  XRANGE: 'k', XREAD: 'km', XREADGROUP: 'wkm', XREVRANGE: 'k', XSETID: 'wok', XTRIM: 'wk', ZADD: 'wok', ZCARD: 'k',
  ZCOUNT: 'k', ZDIFF: 'km', ZDIFFSTORE: 'wokm', ZINCRBY: 'wok', ZINTER: 'km', ZINTERCARD: 'km', ZINTERSTORE: 'wokm',
  ZLEXCOUNT: 'k', ZMPOP: 'wkm', ZMSCORE: 'k', ZPOPMAX: 'wk', ZPOPMIN: 'wk', ZRANDMEMBER: 'k', ZRANGE: 'k',
  ZRANGEBYLEX: 'k', ZRANGEBYSCORE: 'k', ZRANGESTORE: 'wokm', ZRANK: 'k', ZREM: 'wk', ZREMRANGEBYLEX: 'wk',
  ZREMRANGEBYRANK: 'wk', ZREMRANGEBYSCORE: 'wk', ZREVRANGE: 'k', ZREVRANGEBYLEX: 'k', ZREVRANGEBYSCORE: 'k',
  ZREVRANK: 'k', ZSCAN: 'k', ZSCORE: 'k', ZUNION: 'km', ZUNIONSTORE: 'wokm',
};

/**
 * Each command's arity, as COMMAND INFO gives it (from redis-server 7.0.15, checked as the flags
 * are): N, exactly N words with the command's name (a subcommand's counts its container's);
 * -N, at least N. processCommand checks it right after it finds the command, before any state:
 * a request of another count gets 'wrong number of arguments' in every state (arityFits).
 */
export const COMMAND_ARITY: Readonly<Record<string, number>> = {
  ACL: -2, 'ACL|CAT': -2, 'ACL|DELUSER': -3, 'ACL|DRYRUN': -4, 'ACL|GENPASS': -2, 'ACL|GETUSER': 3, 'ACL|HELP': 2,
  'ACL|LIST': 2, 'ACL|LOAD': 2, 'ACL|LOG': -2, 'ACL|SAVE': 2, 'ACL|SETUSER': -3, 'ACL|USERS': 2, 'ACL|WHOAMI': 2,
  APPEND: 3, ASKING: 1, AUTH: -2, BGREWRITEAOF: 1, BGSAVE: -1, BITCOUNT: -2, BITFIELD: -2, BITFIELD_RO: -2,
  BITOP: -4, BITPOS: -3, BLMOVE: 6, BLMPOP: -5, BLPOP: -3, BRPOP: -3, BRPOPLPUSH: 4, BZMPOP: -5, BZPOPMAX: -3,
  BZPOPMIN: -3, CLIENT: -2, 'CLIENT|CACHING': 3, 'CLIENT|GETNAME': 2, 'CLIENT|GETREDIR': 2, 'CLIENT|HELP': 2,
  'CLIENT|ID': 2, 'CLIENT|INFO': 2, 'CLIENT|KILL': -3, 'CLIENT|LIST': -2, 'CLIENT|NO-EVICT': 3, 'CLIENT|PAUSE': -3,
  'CLIENT|REPLY': 3, 'CLIENT|SETNAME': 3, 'CLIENT|TRACKING': -3, 'CLIENT|TRACKINGINFO': 2, 'CLIENT|UNBLOCK': -3,
  'CLIENT|UNPAUSE': 2, CLUSTER: -2, 'CLUSTER|ADDSLOTS': -3, 'CLUSTER|ADDSLOTSRANGE': -4, 'CLUSTER|BUMPEPOCH': 2,
  'CLUSTER|COUNT-FAILURE-REPORTS': 3, 'CLUSTER|COUNTKEYSINSLOT': 3, 'CLUSTER|DELSLOTS': -3,
  'CLUSTER|DELSLOTSRANGE': -4, 'CLUSTER|FAILOVER': -2, 'CLUSTER|FLUSHSLOTS': 2, 'CLUSTER|FORGET': 3,
  'CLUSTER|GETKEYSINSLOT': 4, 'CLUSTER|HELP': 2, 'CLUSTER|INFO': 2, 'CLUSTER|KEYSLOT': 3, 'CLUSTER|LINKS': 2,
  'CLUSTER|MEET': -4, 'CLUSTER|MYID': 2, 'CLUSTER|NODES': 2, 'CLUSTER|REPLICAS': 3, 'CLUSTER|REPLICATE': 3,
  'CLUSTER|RESET': -2, 'CLUSTER|SAVECONFIG': 2, 'CLUSTER|SET-CONFIG-EPOCH': 3, 'CLUSTER|SETSLOT': -4,
  'CLUSTER|SHARDS': 2, 'CLUSTER|SLAVES': 3, 'CLUSTER|SLOTS': 2, COMMAND: -1, 'COMMAND|COUNT': 2, 'COMMAND|DOCS': -2,
  'COMMAND|GETKEYS': -4, 'COMMAND|GETKEYSANDFLAGS': -4, 'COMMAND|HELP': 2, 'COMMAND|INFO': -2, 'COMMAND|LIST': -2,
  CONFIG: -2, 'CONFIG|GET': -3, 'CONFIG|HELP': 2, 'CONFIG|RESETSTAT': 2, 'CONFIG|REWRITE': 2, 'CONFIG|SET': -4,
  COPY: -3, DBSIZE: 1, DEBUG: -2, DECR: 2, DECRBY: 3, DEL: -2, DISCARD: 1, DUMP: 2, ECHO: 2, EVAL: -3, EVALSHA: -3,
  EVALSHA_RO: -3, EVAL_RO: -3, EXEC: 1, EXISTS: -2, EXPIRE: -3, EXPIREAT: -3, EXPIRETIME: 2, FAILOVER: -1, FCALL: -3,
  FCALL_RO: -3, FLUSHALL: -1, FLUSHDB: -1, FUNCTION: -2, 'FUNCTION|DELETE': 3, 'FUNCTION|DUMP': 2,
  'FUNCTION|FLUSH': -2, 'FUNCTION|HELP': 2, 'FUNCTION|KILL': 2, 'FUNCTION|LIST': -2, 'FUNCTION|LOAD': -3,
  'FUNCTION|RESTORE': -3, 'FUNCTION|STATS': 2, GEOADD: -5, GEODIST: -4, GEOHASH: -2, GEOPOS: -2, GEORADIUS: -6,
  GEORADIUSBYMEMBER: -5, GEORADIUSBYMEMBER_RO: -5, GEORADIUS_RO: -6, GEOSEARCH: -7, GEOSEARCHSTORE: -8, GET: 2,
  GETBIT: 3, GETDEL: 2, GETEX: -2, GETRANGE: 4, GETSET: 3, HDEL: -3, HELLO: -1, HEXISTS: 3, HGET: 3, HGETALL: 2,
  HINCRBY: 4, HINCRBYFLOAT: 4, HKEYS: 2, HLEN: 2, HMGET: -3, HMSET: -4, HRANDFIELD: -2, HSCAN: -3, HSET: -4,
  HSETNX: 4, HSTRLEN: 3, HVALS: 2, INCR: 2, INCRBY: 3, INCRBYFLOAT: 3, INFO: -1, KEYS: 2, LASTSAVE: 1, LATENCY: -2,
  'LATENCY|DOCTOR': 2, 'LATENCY|GRAPH': 3, 'LATENCY|HELP': 2, 'LATENCY|HISTOGRAM': -2, 'LATENCY|HISTORY': 3,
  'LATENCY|LATEST': 2, 'LATENCY|RESET': -2, LCS: -3, LINDEX: 3, LINSERT: 5, LLEN: 2, LMOVE: 5, LMPOP: -4, LOLWUT: -1,
  LPOP: -2, LPOS: -3, LPUSH: -3, LPUSHX: -3, LRANGE: 4, LREM: 4, LSET: 4, LTRIM: 4, MEMORY: -2, 'MEMORY|DOCTOR': 2,
  'MEMORY|HELP': 2, 'MEMORY|MALLOC-STATS': 2, 'MEMORY|PURGE': 2, 'MEMORY|STATS': 2, 'MEMORY|USAGE': -3, MGET: -2,
  MIGRATE: -6, MODULE: -2, 'MODULE|HELP': 2, 'MODULE|LIST': 2, 'MODULE|LOAD': -3, 'MODULE|LOADEX': -3,
  'MODULE|UNLOAD': 3, MONITOR: 1, MOVE: 3, MSET: -3, MSETNX: -3, MULTI: 1, OBJECT: -2, 'OBJECT|ENCODING': 3,
  'OBJECT|FREQ': 3, 'OBJECT|HELP': 2, 'OBJECT|IDLETIME': 3, 'OBJECT|REFCOUNT': 3, PERSIST: 2, PEXPIRE: -3,
  PEXPIREAT: -3, PEXPIRETIME: 2, PFADD: -2, PFCOUNT: -2, PFDEBUG: 3, PFMERGE: -2, PFSELFTEST: 1, PING: -1, PSETEX: 4,
  PSUBSCRIBE: -2, PSYNC: -3, PTTL: 2, PUBLISH: 3, PUBSUB: -2, 'PUBSUB|CHANNELS': -2, 'PUBSUB|HELP': 2,
  'PUBSUB|NUMPAT': 2, 'PUBSUB|NUMSUB': -2, 'PUBSUB|SHARDCHANNELS': -2, 'PUBSUB|SHARDNUMSUB': -2, PUNSUBSCRIBE: -1,
  QUIT: -1, RANDOMKEY: 1, READONLY: 1, READWRITE: 1, RENAME: 3, RENAMENX: 3, REPLCONF: -1, REPLICAOF: 3, RESET: 1,
  RESTORE: -4, 'RESTORE-ASKING': -4, ROLE: 1, RPOP: -2, RPOPLPUSH: 3, RPUSH: -3, RPUSHX: -3, SADD: -3, SAVE: 1,
  SCAN: -2, SCARD: 2, SCRIPT: -2, 'SCRIPT|DEBUG': 3, 'SCRIPT|EXISTS': -3, 'SCRIPT|FLUSH': -2, 'SCRIPT|HELP': 2,
  'SCRIPT|KILL': 2, 'SCRIPT|LOAD': 3, SDIFF: -2, SDIFFSTORE: -3, SELECT: 2, SET: -3, SETBIT: 4, SETEX: 4, SETNX: 3,
  SETRANGE: 4, SHUTDOWN: -1, SINTER: -2, SINTERCARD: -3, SINTERSTORE: -3, SISMEMBER: 3, SLAVEOF: 3, SLOWLOG: -2,
  'SLOWLOG|GET': -2, 'SLOWLOG|HELP': 2, 'SLOWLOG|LEN': 2, 'SLOWLOG|RESET': 2, SMEMBERS: 2, SMISMEMBER: -3, SMOVE: 4,
  SORT: -2, SORT_RO: -2, SPOP: -2, SPUBLISH: 3, SRANDMEMBER: -2, SREM: -3, SSCAN: -3, SSUBSCRIBE: -2, STRLEN: 2,
  SUBSCRIBE: -2, SUBSTR: 4, SUNION: -2, SUNIONSTORE: -3, SUNSUBSCRIBE: -1, SWAPDB: 3, SYNC: 1, TIME: 1, TOUCH: -2,
  TTL: 2, TYPE: 2, UNLINK: -2, UNSUBSCRIBE: -1, UNWATCH: 1, WAIT: 3, WATCH: -2, XACK: -4, XADD: -5, XAUTOCLAIM: -6,
  XCLAIM: -6, XDEL: -3, XGROUP: -2, 'XGROUP|CREATE': -5, 'XGROUP|CREATECONSUMER': 5, 'XGROUP|DELCONSUMER': 5,
  'XGROUP|DESTROY': 4, 'XGROUP|HELP': 2, 'XGROUP|SETID': -5, XINFO: -2, 'XINFO|CONSUMERS': 4, 'XINFO|GROUPS': 3,
  'XINFO|HELP': 2, 'XINFO|STREAM': -3, XLEN: 2, XPENDING: -3, XRANGE: -4, XREAD: -4, XREADGROUP: -7, XREVRANGE: -4,
  XSETID: -3, XTRIM: -4, ZADD: -4, ZCARD: 2, ZCOUNT: 4, ZDIFF: -3, ZDIFFSTORE: -4, ZINCRBY: 4, ZINTER: -3,
  ZINTERCARD: -3, ZINTERSTORE: -4, ZLEXCOUNT: 4, ZMPOP: -4, ZMSCORE: -3, ZPOPMAX: -2, ZPOPMIN: -2, ZRANDMEMBER: -2,
  ZRANGE: -4, ZRANGEBYLEX: -4, ZRANGEBYSCORE: -4, ZRANGESTORE: -5, ZRANK: 3, ZREM: -3, ZREMRANGEBYLEX: 4,
  ZREMRANGEBYRANK: 4, ZREMRANGEBYSCORE: 4, ZREVRANGE: -4, ZREVRANGEBYLEX: -4, ZREVRANGEBYSCORE: -4, ZREVRANK: 3,
  ZSCAN: -3, ZSCORE: 3, ZUNION: -3, ZUNIONSTORE: -4,
};

/**
 * Where the keys are of each command that may name several and whose key specs say it without
 * reading its arguments (not movablekeys): COMMAND INFO's first key, last key (negative: counted
 * from the end, -1 the last word) and step, from redis-server 7.0.15, checked as the flags are.
 * MSET k v names one key (its values are no keys), BLPOP k 0 one. Also the one command naming a
 * single key whose key is not its first argument (PFDEBUG); every other's is.
 */
export const COMMAND_KEY_RANGE: Readonly<Record<string, readonly [number, number, number]>> = {
  BITOP: [2, -1, 1], BLMOVE: [1, 2, 1], BLPOP: [1, -2, 1], BRPOP: [1, -2, 1], BRPOPLPUSH: [1, 2, 1],
  BZPOPMAX: [1, -2, 1], BZPOPMIN: [1, -2, 1], COPY: [1, 2, 1], DEL: [1, -1, 1], EXISTS: [1, -1, 1],
  GEOSEARCHSTORE: [1, 2, 1], LCS: [1, 2, 1], LMOVE: [1, 2, 1], MGET: [1, -1, 1], MSET: [1, -1, 2], MSETNX: [1, -1, 2],
  PFCOUNT: [1, -1, 1], PFDEBUG: [2, 2, 1], PFMERGE: [1, -1, 1], RENAME: [1, 2, 1], RENAMENX: [1, 2, 1], RPOPLPUSH: [1, 2, 1],
  SDIFF: [1, -1, 1], SDIFFSTORE: [1, -1, 1], SINTER: [1, -1, 1], SINTERSTORE: [1, -1, 1], SMOVE: [1, 2, 1],
  SSUBSCRIBE: [1, -1, 1], SUNION: [1, -1, 1], SUNIONSTORE: [1, -1, 1], SUNSUBSCRIBE: [1, -1, 1], TOUCH: [1, -1, 1],
  UNLINK: [1, -1, 1], WATCH: [1, -1, 1], ZRANGESTORE: [1, 2, 1],
};

/** Whether `argc` words (the command's name with them; -1: not known) fit command `name`'s arity; a name not known here fits. */
export function arityFits(name: string, argc: number): boolean {
  const arity = COMMAND_ARITY[name];
  if (arity === undefined || argc < 0) return true;
  return arity > 0 ? argc === arity : argc >= -arity;
}

/** Commands with subcommands (`CLIENT|SETINFO`): their own flags are not the subcommand's. */
export const CONTAINERS: ReadonlySet<string> = new Set(Object.keys(COMMAND_FLAGS).filter((n) => n.includes('|')).map((n) => n.slice(0, n.indexOf('|'))));

/** Sharded pub/sub, whose channel is a key to a cluster node, but which a node serves while its cluster is down (cluster-allow-pubsubshard-when-down yes). */
export const PUBSUB_SHARD: ReadonlySet<string> = new Set(['SPUBLISH', 'SSUBSCRIBE', 'SUNSUBSCRIBE']);
