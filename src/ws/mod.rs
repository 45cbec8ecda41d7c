//! WebSocket (RFC 6455) by hand — work in progress: the opening handshake and the frame codec,
//! shared by the `websocket` demo and, later, the chat room.
