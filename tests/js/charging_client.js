// The ChargingWebSocketClient class of charging-websocket-api.md ("Examples" →
// "JavaScript/Web Client"), copied verbatim. Node 20 has no global
// WebSocket: the `ws` package provides the browser-style one the class uses.
const WebSocket = require('ws');

class ChargingWebSocketClient {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.ws = null;
    this.messageId = 1;
    this.pendingCalls = new Map();
  }

  async connect() {
    this.ws = new WebSocket(this.url);
    
    return new Promise((resolve, reject) => {
      this.ws.onopen = async () => {
        await this.authenticate();
        resolve();
      };
      
      this.ws.onmessage = (event) => this.handleMessage(event.data);
      this.ws.onerror = reject;
    });
  }

  async authenticate() {
    const response = await this.sendMessage('auth_request', {
      token: this.token
    });
    
    if (!response.data.success) {
      throw new Error('Authentication failed');
    }
  }

  async startCharging(chargePointId, connectorId, idTag) {
    return this.sendMessage('start_charging_request', {
      chargePointId,
      connectorId,
      idTag
    });
  }

  async stopCharging(chargePointId, transactionId) {
    return this.sendMessage('stop_charging_request', {
      chargePointId,
      transactionId
    });
  }

  async sendMessage(type, data) {
    const messageId = this.getNextMessageId();
    const message = {
      id: messageId,
      type,
      timestamp: new Date().toISOString(),
      data
    };

    return new Promise((resolve, reject) => {
      this.pendingCalls.set(messageId, { resolve, reject });
      
      const timeout = setTimeout(() => {
        this.pendingCalls.delete(messageId);
        reject(new Error('Timeout'));
      }, 30000);

      this.ws.send(JSON.stringify(message));
      
      // Handle response in message handler
      this.pendingCalls.get(messageId).timeout = timeout;
    });
  }

  handleMessage(data) {
    const message = JSON.parse(data);
    
    // Handle response to pending call
    if (this.pendingCalls.has(message.id)) {
      const pending = this.pendingCalls.get(message.id);
      clearTimeout(pending.timeout);
      this.pendingCalls.delete(message.id);
      
      if (message.error) {
        pending.reject(new Error(message.error.message));
      } else {
        pending.resolve(message);
      }
      return;
    }
    
    // Handle real-time updates
    switch (message.type) {
      case 'charging_status_update':
        console.log('Status update:', message.data);
        break;
      case 'meter_values_update':
        console.log('Meter values:', message.data);
        break;
    }
  }

  getNextMessageId() {
    return (this.messageId++).toString();
  }
}

module.exports = { ChargingWebSocketClient };
