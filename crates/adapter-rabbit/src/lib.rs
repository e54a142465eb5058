//! The [`Bus`](room_ports::Bus) port over RabbitMQ (lapin): room events go
//! only to the nodes that have users in the room, commands go to a room's host.
//!
//! The adapter carries bytes: the body of each AMQP message is the payload
//! the engine gave it, as is, and the payload handed back on the receiving
//! node is that body, unread. The room of an event is the routing key it was
//! published with. What the payloads mean, and whether a room's events arrive
//! complete and in order, is the engine's business, so this bus and the
//! in-memory one run under the same contract.
//!
//! # Topology
//!
//! With `exchange_prefix = P` and node id `N` (see [`RabbitConfig::names`]):
//!
//! | object | kind | routing key | purpose |
//! |---|---|---|---|
//! | `P.rooms` | direct exchange | `room.{id}` | a host publishes each event of a room once |
//! | `P.nodes` | direct exchange | node id | commands to a host, replies, close-session, resync requests |
//! | `P.node.N` | exclusive queue | bound to `P.nodes`/`N`, and to `P.rooms`/`room.{id}` per wanted room | the node's only queue |
//!
//! A node binds `room.{id}` when its first user of the room arrives
//! ([`subscribe_room`](room_ports::Bus::subscribe_room)) and unbinds it when
//! the last leaves, so it receives exactly the rooms it has users in. One
//! queue per node keeps a host's replies and events to a relay in one order.
//!
//! # Limits
//!
//! - the queue holds at most `queue_max_len` messages waiting (`x-max-length`,
//!   `x-overflow: drop-head`; deliveries not yet acknowledged do not count):
//!   a node that falls behind loses the oldest ones;
//! - the broker pushes at most `prefetch` unacknowledged deliveries (`basic.qos`);
//! - the engine's inbound channel holds `inbound_capacity` items; a delivery is
//!   acknowledged only once it is in there, so a slow engine stops the consumer.
//!
//! Nothing is replayed, and the adapter does not say when the queue dropped
//! messages: the engine numbers a room's events inside the payload and sees
//! the jump itself (then it asks the host for a fresh SYNC).
//!
//! # Faults
//!
//! A supervisor task owns the connection. When it drops, publishing fails at
//! once with [`BusError::Unavailable`](room_ports::BusError::Unavailable);
//! the task reconnects with doubling, jittered delays, re-declares the queue,
//! re-binds every wanted room, and reports one
//! [`BusInbound::Gap`](room_ports::BusInbound::Gap) for all of them: their
//! bindings were gone for a while, which only the adapter knows. lapin's own
//! auto-recovery is not used, because it would hide exactly that moment.
//!
//! Publisher confirms are off: an event lost on the way is caught by the
//! receiving engine's sequence check anyway, and waiting for a confirm would
//! put a broker round trip on the host's fast path.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use adapter_rabbit::{RabbitBus, RabbitConfig};
//! use room_ports::{Bus, NodeId};
//!
//! let config = RabbitConfig::new("amqp://guest:guest@127.0.0.1:5672/%2f", "myroom", NodeId("n1".into()));
//! let bus = RabbitBus::connect(config).await?;
//! let mut inbound = bus.take_inbound().expect("taken once");
//! bus.subscribe_room(room_core::RoomId(7)).await?;
//! // Whatever bytes the engine encodes; other nodes receive exactly these.
//! bus.publish(room_core::RoomId(7), bytes::Bytes::from_static(b"an event")).await?;
//! while let Some(item) = inbound.recv().await {
//!     println!("{item:?}");
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod backoff;
mod bus;
mod config;
mod error;
mod interest;
mod session;
mod shared;
mod supervisor;
mod topology;

pub use bus::RabbitBus;
pub use config::{Names, RabbitConfig, node_key, room_key};
pub use error::RabbitError;
