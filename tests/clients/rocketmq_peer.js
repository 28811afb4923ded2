// Alibaba's RocketMQ client for Node.js (ali-ons, npm `rocketmq`) against a name server and a
// broker: a producer sends 6 messages with W3C trace properties, one the broker refuses
// (SYSTEM_BUSY), and looks up a topic the name server does not know; a push consumer then
// receives the 6 stored messages. Prints what it did as JSON on its last line: the client's
// message ids (UNIQ_KEY) in send order, the refused send's error, the ids received.
//
// Usage: NODE_PATH=... node rocketmq_peer.js ADDRESS NAMESRV_PORT

'use strict';

const { Producer, Consumer, Message } = require('rocketmq');
// The client's API is generators run by co (one of its own dependencies).
const co = require('co');

const [address, namesrvPort] = process.argv.slice(2);
const namesrvAddr = `${address}:${namesrvPort}`;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
// The name server's address is given: the client never asks an HTTP address server.
const httpclient = {
  request() {
    throw new Error('no address server');
  },
};
const options = { namesrvAddr, logger: quiet, httpclient };

function ready(client) {
  return new Promise(resolve => {
    client.ready(resolve);
    client.on('error', () => {});
  });
}

function send(producer, msg) {
  return co(producer.send(msg)).then(res => [null, res], err => [err, null]);
}

async function main() {
  const done = { sent: [], refused: null, missing: null, received: [] };
  const producer = new Producer({ ...options, producerGroup: 'tapflow-producers' });
  await ready(producer);
  for (let i = 0; i < 6; i++) {
    const msg = new Message('TopicTest', 'TagA', `order ${i}`);
    const span = (i + 1).toString(16).padStart(16, '0');
    msg.properties.traceparent = `00-${TRACE}-${span}-01`;
    // Java's client gives every message a client-side id (UNIQ_KEY); this older client does
    // not, so it is set as Java's would be.
    msg.properties.UNIQ_KEY = `0A0000010000${TRACE.slice(0, 12).toUpperCase()}${span.slice(8).toUpperCase()}`;
    const [err, res] = await send(producer, msg);
    if (err) throw err;
    done.sent.push({ id: msg.properties.UNIQ_KEY, span, queue: res.messageQueue.queueId });
  }
  const [err] = await send(producer, new Message('TopicTest', 'TagA', 'reject'));
  done.refused = err ? String(err.name || err.message) : null;
  const [missing] = await send(producer, new Message('missing-topic', 'TagA', 'x'));
  done.missing = missing ? String(missing.name || missing.message) : null;

  const consumer = new Consumer({ ...options, consumerGroup: 'tapflow-consumers' });
  await new Promise((resolve, reject) => {
    consumer.subscribe('TopicTest', '*', function* (msg) {
      done.received.push(msg.properties.UNIQ_KEY);
      if (done.received.length === 6) resolve();
    });
    // The client keeps asking for the missing topic's route and reports it as an error.
    consumer.on('error', () => {});
    setTimeout(() => reject(new Error(`received ${done.received.length} of 6`)), 20000);
  });
  await consumer.close();
  await producer.close();
  console.log(JSON.stringify(done));
  process.exit(0);
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
