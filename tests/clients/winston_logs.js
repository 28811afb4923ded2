// Application logs for tests/integration_collector.rs, written by winston (npm) through its
// HTTP transport to an integration collector's /api/v1/log, as a Node.js service ships them:
//
//   node winston_logs.js NODE_MODULES PORT
//
// The `checkout` logger batches (4 entries in one POST, a JSON array); the `console` logger
// posts each entry alone (a JSON object) as an audit log. Every entry carries an ISO 8601
// timestamp (winston's timestamp format), its level, the service and, for some, a `json`
// object of attributes, the fields DeepFlow's Vector pipeline gives. Prints OK once every
// POST was answered 200.
const path = require('path');
const winston = require(path.join(process.argv[2], 'winston'));
const port = Number(process.argv[3]);

const target = { host: '127.0.0.1', port, path: '/api/v1/log' };
const format = winston.format.combine(winston.format.timestamp(), winston.format.json());
let pending = 0;
let failed = false;
function watched(transport) {
  transport.on('warn', (e) => { failed = true; console.error(String(e)); });
  return transport;
}
const batched = watched(new winston.transports.Http({ ...target, batch: true, batchCount: 4, batchInterval: 60000 }));
const single = watched(new winston.transports.Http(target));

const checkout = winston.createLogger({
  level: 'debug',
  format,
  defaultMeta: { app_service: 'checkout', _df_log_type: 'user' },
  transports: [batched],
});
const audit = winston.createLogger({
  format,
  defaultMeta: { app_service: 'console', _df_log_type: 'audit' },
  transports: [single],
});

// The single transport says when each of its entries was answered.
single.on('logged', () => { pending -= 1; });
checkout.info('order placed', { json: { order_id: 1001, amount: 12.5 } });
checkout.warn('stock low', { json: { sku: 'A-7' } });
checkout.error('payment declined', { json: { order_id: 1002 } });
checkout.debug('cart recalculated');
for (const who of ['admin', 'auditor']) {
  pending += 1;
  audit.info(`user ${who} logged in`, { user_id: who === 'admin' ? 1 : 2 });
}
// The batch went with its fourth entry; give every answer time to come.
setTimeout(() => {
  if (failed || pending !== 0) {
    console.error(`failed=${failed} pending=${pending}`);
    process.exit(1);
  }
  console.log('OK');
}, 2000);
