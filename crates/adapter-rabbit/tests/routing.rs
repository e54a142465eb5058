//! Routing against the real RabbitMQ: only interested nodes receive a room's
//! events, binds follow subscriptions, node messages reach their node.

mod common;

use std::time::Duration;

use common::{cleanup, config, connect, drain, event, next, unique_prefix};
use room_core::{RoomId, SessionId, UserId};
use room_ports::{Bus, BusInbound, NodeId, NodeMessage, SessionAt};

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(500);

#[tokio::test]
async fn a_room_event_reaches_only_the_nodes_with_users_in_that_room() {
    let prefix = unique_prefix("interest");
    let host = connect(config(&prefix, "host")).await;
    let relay_a = connect(config(&prefix, "relay-a")).await;
    let relay_b = connect(config(&prefix, "relay-b")).await;
    let mut inbox_a = relay_a.take_inbound().unwrap();
    let mut inbox_b = relay_b.take_inbound().unwrap();
    relay_a.subscribe_room(RoomId(1)).await.unwrap();
    relay_b.subscribe_room(RoomId(2)).await.unwrap();

    host.publish(&event(1, 1, 1)).await.unwrap();
    host.publish(&event(2, 1, 1)).await.unwrap();
    host.publish(&event(3, 1, 1)).await.unwrap();
    host.publish(&event(1, 1, 2)).await.unwrap();

    let rooms_of = |items: Vec<BusInbound>| -> Vec<(u64, u64)> {
        items
            .into_iter()
            .map(|item| match item {
                BusInbound::Event(e) => (e.room.0, e.seq),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    };
    assert_eq!(rooms_of(drain(&mut inbox_a, QUIET).await), [(1, 1), (1, 2)]);
    assert_eq!(rooms_of(drain(&mut inbox_b, QUIET).await), [(2, 1)]);

    for bus in [&host, &relay_a, &relay_b] {
        bus.close(WAIT).await;
    }
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_node_receives_a_room_between_subscribe_and_unsubscribe_only() {
    let prefix = unique_prefix("bind");
    let host = connect(config(&prefix, "host")).await;
    let relay = connect(config(&prefix, "relay")).await;
    let mut inbox = relay.take_inbound().unwrap();
    let room = RoomId(5);

    host.publish(&event(5, 1, 1)).await.unwrap();
    assert!(
        drain(&mut inbox, QUIET).await.is_empty(),
        "received a room before subscribing"
    );

    relay.subscribe_room(room).await.unwrap();
    relay.subscribe_room(room).await.unwrap(); // idempotent
    host.publish(&event(5, 1, 2)).await.unwrap();
    match next(&mut inbox, WAIT).await {
        BusInbound::Event(e) => assert_eq!((e.room, e.seq, e.frame.as_str()), (room, 2, "MOVE 5 2")),
        other => panic!("unexpected {other:?}"),
    }

    relay.unsubscribe_room(room).await.unwrap();
    host.publish(&event(5, 1, 3)).await.unwrap();
    assert!(
        drain(&mut inbox, QUIET).await.is_empty(),
        "received a room after unsubscribing"
    );

    // Subscribing again starts the room's sequence afresh: no spurious gap.
    relay.subscribe_room(room).await.unwrap();
    host.publish(&event(5, 1, 9)).await.unwrap();
    match next(&mut inbox, WAIT).await {
        BusInbound::Event(e) => assert_eq!(e.seq, 9),
        other => panic!("unexpected {other:?}"),
    }

    host.close(WAIT).await;
    relay.close(WAIT).await;
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_receiver_reports_a_sequence_gap_and_drops_stale_epochs() {
    let prefix = unique_prefix("gap");
    let host = connect(config(&prefix, "host")).await;
    let relay = connect(config(&prefix, "relay")).await;
    let mut inbox = relay.take_inbound().unwrap();
    relay.subscribe_room(RoomId(8)).await.unwrap();

    for (epoch, seq) in [(2, 1), (2, 2), (2, 4), (1, 5), (2, 4), (2, 5)] {
        host.publish(&event(8, epoch, seq)).await.unwrap();
    }
    let seen: Vec<String> = drain(&mut inbox, QUIET)
        .await
        .into_iter()
        .map(|item| match item {
            BusInbound::Event(e) => format!("{}:{}", e.epoch, e.seq),
            BusInbound::Gap { rooms } => format!("gap{:?}", rooms.iter().map(|r| r.0).collect::<Vec<_>>()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(seen, ["2:1", "2:2", "gap[8]", "2:4", "2:5"]);

    host.close(WAIT).await;
    relay.close(WAIT).await;
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_command_reaches_the_host_and_its_reply_comes_back_to_the_relay() {
    let prefix = unique_prefix("command");
    let host = connect(config(&prefix, "host")).await;
    let relay = connect(config(&prefix, "relay")).await;
    let mut host_inbox = host.take_inbound().unwrap();
    let mut relay_inbox = relay.take_inbound().unwrap();

    let command = NodeMessage::Command {
        room: RoomId(3),
        from: SessionAt {
            node: relay.node_id().clone(),
            session: SessionId(77),
        },
        user: UserId(12),
        nickname: "ann".into(),
        frame: "MOVE 1".into(),
    };
    relay.send_to_node(host.node_id(), &command).await.unwrap();
    let received = next(&mut host_inbox, WAIT).await;
    assert_eq!(received, BusInbound::Node(command));

    let BusInbound::Node(NodeMessage::Command { from, .. }) = received else {
        unreachable!()
    };
    let reply = NodeMessage::Reply {
        session: from.session,
        frame: "ERROR 76409".into(),
    };
    host.send_to_node(&from.node, &reply).await.unwrap();
    assert_eq!(next(&mut relay_inbox, WAIT).await, BusInbound::Node(reply));
    assert!(
        drain(&mut host_inbox, QUIET).await.is_empty(),
        "the host got its own reply"
    );

    host.close(WAIT).await;
    relay.close(WAIT).await;
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_close_session_order_reaches_only_the_addressed_node() {
    let prefix = unique_prefix("control");
    let a = connect(config(&prefix, "a")).await;
    let b = connect(config(&prefix, "b")).await;
    let c = connect(config(&prefix, "c")).await;
    let mut inbox_b = b.take_inbound().unwrap();
    let mut inbox_c = c.take_inbound().unwrap();

    let close = NodeMessage::CloseSession {
        session: SessionId(4),
        frame: Some("ERROR 76409".into()),
        code: 4001,
    };
    a.send_to_node(&NodeId("b".into()), &close).await.unwrap();
    a.send_to_node(&NodeId("nobody".into()), &close).await.unwrap();
    assert_eq!(next(&mut inbox_b, WAIT).await, BusInbound::Node(close));
    assert!(drain(&mut inbox_c, QUIET).await.is_empty());

    for bus in [&a, &b, &c] {
        bus.close(WAIT).await;
    }
    cleanup(&prefix).await;
}
