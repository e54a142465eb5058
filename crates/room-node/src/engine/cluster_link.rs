//! The engine's side of a cluster: its heartbeat in the node registry, the
//! dispatch of what the bus delivers to the rooms and sessions it is for,
//! and the route a client should take to a room.

use std::time::Duration;

use room_core::RoomId;
use room_ports::{BusInbound, NodeInfo};

use super::Engine;
use crate::cluster::{ClusterPorts, Route};
use crate::contract::{self, HostEvent, NodeMessage};
use crate::room_task::RoomMsg;

/// Keep this node listed in the registry with its current load.
pub(crate) async fn heartbeat(engine: Engine, ports: ClusterPorts) {
    let mut every = tokio::time::interval((ports.node_ttl / 3).max(Duration::from_millis(50)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let info = NodeInfo {
            id: ports.node.clone(),
            url: ports.advertise.clone(),
            connections: engine.session_count() as u64,
            rooms: engine.hosted_rooms(),
            instance: engine.instance(),
        };
        let result = ports.registry.heartbeat(&info).await;
        engine.registry_trust().heard(result.is_ok());
        if let Err(e) = result {
            tracing::warn!(error = %e, "node heartbeat failed");
        }
    }
}

/// Hand what the bus delivers to the rooms and sessions it is for.
pub(crate) async fn dispatch(engine: Engine, ports: ClusterPorts) {
    let Some(mut inbound) = ports.bus.take_inbound() else {
        tracing::error!("the bus's inbound stream was already taken; this node cannot relay");
        return;
    };
    while let Some(message) = inbound.recv().await {
        match message {
            BusInbound::Event { room, payload } => match contract::decode::<HostEvent>(&payload) {
                // Published for `room`: an event claiming another room is not trusted with it.
                Ok(event) if event.room == room => {
                    engine.send_if_loaded(room, RoomMsg::BusEvent(event));
                }
                Ok(_) | Err(_) => {
                    tracing::warn!(%room, "an unreadable event of the room; resynchronising it");
                    engine.send_if_loaded(room, RoomMsg::Gap);
                }
            },
            BusInbound::Gap { rooms } => {
                for room in rooms {
                    engine.send_if_loaded(room, RoomMsg::Gap);
                }
            }
            BusInbound::Node { payload } => match contract::decode::<NodeMessage>(&payload) {
                Ok(message) => on_node_message(&engine, &ports, message),
                Err(e) => tracing::warn!(error = %e, "dropped a message from another node"),
            },
        }
    }
}

fn on_node_message(engine: &Engine, ports: &ClusterPorts, message: NodeMessage) {
    match message {
        NodeMessage::Command {
            room,
            from,
            user,
            nickname,
            command,
        } => {
            let returned = engine.send_or_return(
                room,
                RoomMsg::Remote {
                    from,
                    user,
                    nickname,
                    command,
                },
            );
            if let Some(RoomMsg::Remote { from, command, .. }) = returned {
                // Not hosted here (any more): the relay holds it and finds the new host.
                let bounced = NodeMessage::Bounced {
                    room,
                    node: ports.node.clone(),
                    session: from.session,
                    command,
                };
                engine.send_to_node(from.node, bounced);
            }
        }
        NodeMessage::Reply {
            session,
            code,
            message,
        } => engine.reply_to_session(session, code, message),
        NodeMessage::EnterRefused {
            room,
            session,
            code,
            message,
        } => {
            engine.send_if_loaded(
                room,
                RoomMsg::Refused {
                    session,
                    code,
                    message,
                },
            );
        }
        NodeMessage::Members {
            room,
            node,
            entered,
            entering,
        } => {
            engine.send_if_loaded(
                room,
                RoomMsg::Members {
                    node,
                    entered,
                    entering,
                },
            );
        }
        NodeMessage::AskMembers { room, host } => {
            if !engine.send_if_loaded(room, RoomMsg::AskMembers { host: host.clone() }) {
                // Nothing of the room here: none of the sessions the host has of this node are in it.
                let nobody = NodeMessage::Members {
                    room,
                    node: ports.node.clone(),
                    entered: Vec::new(),
                    entering: Vec::new(),
                };
                engine.send_to_node(host, nobody);
            }
        }
        NodeMessage::BuildDone {
            room,
            session,
            ticket,
            refused,
        } => {
            let done = RoomMsg::BuildDone {
                ticket,
                refused: refused.clone(),
            };
            if !engine.send_if_loaded(room, done)
                && let Some((code, message)) = refused
            {
                // The relay is gone (its sessions left or moved): the socket may still be here.
                engine.reply_to_session(session, code, message);
            }
        }
        NodeMessage::Resync { room, node } => {
            engine.send_if_loaded(room, RoomMsg::Resync { node });
        }
        NodeMessage::Bounced {
            room,
            node,
            session,
            command,
        } => {
            engine.send_if_loaded(
                room,
                RoomMsg::Bounced {
                    node,
                    session,
                    command,
                },
            );
        }
        NodeMessage::HandedOver { room } => {
            engine.send_if_loaded(room, RoomMsg::HandedOver);
        }
    }
}

/// The URL a client should use for `room`.
pub(crate) async fn route(ports: &ClusterPorts, room: RoomId) -> Option<Route> {
    let live = ports.registry.live_nodes().await.ok()?;
    if let Ok(Some((host, _))) = ports.hosting.holder(room).await
        && let Some(info) = live.iter().find(|n| n.id == host)
    {
        return Some(Route {
            url: info.url.clone(),
            node: host,
            hosted: true,
        });
    }
    let least = live.into_iter().next()?;
    Some(Route {
        url: least.url,
        node: least.id,
        hosted: false,
    })
}
