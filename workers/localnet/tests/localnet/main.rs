//! The localnet from the outside: standard Solana clients, raw JSON-RPC and
//! websocket frames, and the gpu-market lifecycle over `RpcChain`, all
//! against nodes bound to 127.0.0.1 on free ports. One binary, so the Solana
//! stack is linked once.

mod attacks;
mod common;
mod history;
mod lifecycle;
mod pubsub;
mod rpc_client;
mod server;
mod subscriptions;
mod tokens;
mod web3js;
