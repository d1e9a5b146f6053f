// The document's "Usage" example, run literally against a test server: connect (which
// authenticates), startCharging('CP_001', 1, 'USER_123'), then stopCharging('CP_001', <the
// transactionId just started>) — the document stops placeholder transaction 12345 after 10 s;
// here the real one, at once. Each step prints one JSON line; errors print {"error": message}.
// Usage: node charging_example.js <ws url> <jwt>
const { ChargingWebSocketClient } = require('./charging_client');

const client = new ChargingWebSocketClient(process.argv[2], process.argv[3]);

async function example() {
  try {
    await client.connect();
    console.log(JSON.stringify({ step: 'connected' }));

    const startResponse = await client.startCharging('CP_001', 1, 'USER_123');
    console.log(JSON.stringify({ step: 'started', response: startResponse }));

    const stopResponse = await client.stopCharging('CP_001', startResponse.data.transactionId);
    console.log(JSON.stringify({ step: 'stopped', response: stopResponse }));
  } catch (error) {
    console.log(JSON.stringify({ step: 'error', error: error.message }));
    process.exitCode = 1;
  } finally {
    if (client.ws) client.ws.close();
  }
}

example();
