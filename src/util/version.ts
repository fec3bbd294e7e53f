/** cairn's version: what `cairn version`, /v1/agent/self and the transport handshake report. A test keeps it equal to package.json's. */
export const VERSION = "0.1.0";
