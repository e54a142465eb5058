//! The wire codec: PROTOCOL.md §2 (frames), §3 (client messages) and the
//! byte-exact shapes of §4 (server messages).

mod common;

use common::{GUEST, Harness, OWNER, build_doc, example_map};
use room_core::{
    Cell, ClientMsg, Direction, ErrorCode, ItemDoc, Map, MapDoc, ProtoError, RoomId, RoomView, ServerMsg,
    UserId, UserView, frame_seq, parse_client_frame, parse_server_frame, split_batch,
};

fn client_err(frame: &str) -> u32 {
    match parse_client_frame(frame) {
        Ok(msg) => panic!("{frame:?} parsed as {msg:?}"),
        Err(e) => e.code().as_u32(),
    }
}

fn parses(frame: &str) -> ClientMsg {
    parse_client_frame(frame).unwrap_or_else(|e| panic!("{frame:?} was refused: {e}"))
}

// ---- §2 frames -------------------------------------------------------------

#[test]
fn empty_frame_is_76100() {
    assert_eq!(client_err(""), 76100);
    assert_eq!(parse_client_frame(""), Err(ProtoError::TooShort));
}

#[test]
fn one_character_frame_is_76100() {
    for frame in ["1", "{", " ", "é"] {
        assert_eq!(client_err(frame), 76100, "{frame:?}");
    }
}

#[test]
fn frame_without_two_digit_code_is_76100() {
    for frame in ["ab{}", "1a{}", " 11{}", "{}", "-1{}", "1é{}", "١١{}"] {
        assert_eq!(client_err(frame), 76100, "{frame:?}");
    }
}

#[test]
fn bare_code_is_the_same_as_code_with_empty_object() {
    assert_eq!(parses("11"), ClientMsg::Sync);
    assert_eq!(parses("11"), parses("11{}"));
    assert_eq!(parses("19"), ClientMsg::Leave);
    assert_eq!(parses("19"), parses("19{}"));
}

#[test]
fn sync_and_leave_ignore_extra_fields() {
    assert_eq!(parses(r#"11{"x":1}"#), ClientMsg::Sync);
    assert_eq!(parses(r#"19{"bye":[1,2]}"#), ClientMsg::Leave);
}

#[test]
fn codes_clients_may_not_send_are_76900() {
    for code in ["00", "01", "12", "21", "30", "41", "55", "98", "99"] {
        for body in ["", "{}", r#"{"direction":1}"#, "not json"] {
            let frame = format!("{code}{body}");
            assert_eq!(client_err(&frame), 76900, "{frame:?}");
        }
    }
    assert_eq!(parse_client_frame("55{}"), Err(ProtoError::CodeNotAllowed(55)));
}

#[test]
fn json_that_does_not_parse_is_76100() {
    for frame in [
        "11{",
        r#"20{"direction":1"#,
        "10{room_id:7}",
        r#"20{"direction":1,}"#,
        "11{}}",
        "11{} x",
        r#"20{"direction":01}"#,
    ] {
        assert_eq!(client_err(frame), 76100, "{frame:?}");
    }
}

#[test]
fn json_that_is_not_an_object_is_76100() {
    for frame in [
        "11[]",
        "11null",
        "1142",
        r#"11"{}""#,
        "19true",
        "20[1]",
        r#"10"7""#,
        "40[]",
    ] {
        assert_eq!(client_err(frame), 76100, "{frame:?}");
    }
}

#[test]
fn missing_field_is_76100() {
    for frame in [
        "20",
        "20{}",
        "10{}",
        r#"10{"authorization":"t"}"#,
        "40{}",
        r#"40{"map":{"side":20}}"#,
        r#"40{"map":{"side":20,"gameList":[],"objectList":[],"games":{}}}"#,
        r#"40{"map":{"side":20,"gameList":[],"objectList":[],"games":{},"objects":{"w":{"name":"a","x":1}}}}"#,
    ] {
        assert_eq!(client_err(frame), 76100, "{frame:?}");
    }
}

#[test]
fn field_of_wrong_type_is_76100() {
    for frame in [
        r#"20{"direction":"1"}"#,
        r#"20{"direction":1.0}"#,
        r#"20{"direction":null}"#,
        r#"10{"room_id":true}"#,
        r#"10{"room_id":[7]}"#,
        r#"10{"room_id":7.5}"#,
        r#"10{"room_id":"7","authorization":5}"#,
        r#"40{"map":"big"}"#,
        r#"40{"map":{"side":"20","gameList":[],"objectList":[],"games":{},"objects":{}}}"#,
        r#"40{"map":{"side":20,"gameList":[12],"objectList":[],"games":{},"objects":{}}}"#,
        r#"40{"map":{"side":20,"gameList":[],"objectList":[],"games":[],"objects":{}}}"#,
        r#"40{"map":{"side":20,"gameList":[],"objectList":["w"],"games":{},"objects":{"w":{"name":1,"x":1,"y":1}}}}"#,
        r#"40{"map":{"side":20,"gameList":[],"objectList":["w"],"games":{},"objects":{"w":{"name":"a","x":1.5,"y":1}}}}"#,
    ] {
        assert_eq!(client_err(frame), 76100, "{frame:?}");
    }
}

#[test]
fn direction_out_of_range_is_76100() {
    for frame in [
        r#"20{"direction":7}"#,
        r#"20{"direction":4}"#,
        r#"20{"direction":-1}"#,
        r#"20{"direction":18446744073709551616}"#,
    ] {
        assert_eq!(client_err(frame), 76100, "{frame:?}");
    }
}

#[test]
fn directions_are_numbered_up_right_down_left() {
    let expected = [Direction::Up, Direction::Right, Direction::Down, Direction::Left];
    for (code, direction) in expected.into_iter().enumerate() {
        let frame = format!(r#"20{{"direction":{code}}}"#);
        assert_eq!(parses(&frame), ClientMsg::Move { direction });
        assert_eq!(usize::from(direction.code()), code);
    }
}

#[test]
fn room_id_may_be_a_string_or_a_number() {
    let expected = ClientMsg::Enter {
        room_id: RoomId(7),
        authorization: None,
    };
    assert_eq!(parses(r#"10{"room_id":"7"}"#), expected);
    assert_eq!(parses(r#"10{"room_id":7}"#), expected);
    assert_eq!(
        parses(r#"10{"room_id":"18446744073709551615"}"#),
        ClientMsg::Enter {
            room_id: RoomId(u64::MAX),
            authorization: None
        }
    );
}

#[test]
fn room_id_that_is_not_a_non_negative_integer_is_76100() {
    for id in [
        r#""""#,
        r#""x7""#,
        r#""-7""#,
        r#""+7""#,
        r#"" 7""#,
        r#""7.0""#,
        "-7",
        r#""18446744073709551616""#,
        "18446744073709551616",
        "7e0",
    ] {
        let frame = format!(r#"10{{"room_id":{id}}}"#);
        assert_eq!(client_err(&frame), 76100, "{frame:?}");
    }
}

#[test]
fn enter_carries_authorization_when_present() {
    assert_eq!(
        parses(r#"10{"room_id":"7","authorization":"abc.def.ghi"}"#),
        ClientMsg::Enter {
            room_id: RoomId(7),
            authorization: Some("abc.def.ghi".into())
        }
    );
    assert_eq!(
        parses(r#"10{"room_id":"7","authorization":null}"#),
        ClientMsg::Enter {
            room_id: RoomId(7),
            authorization: None
        }
    );
}

#[test]
fn duplicate_field_in_a_message_is_76100() {
    assert_eq!(client_err(r#"20{"direction":1,"direction":2}"#), 76100);
}

#[test]
fn build_keeps_document_order_and_duplicate_keys_for_validation() {
    let doc = build_doc(
        r#"40{"map":{"side":5,"gameList":["2","1"],"objectList":["w"],
            "games":{"2":{"name":"b","x":1,"y":0},"1":{"name":"a","x":0,"y":0}},
            "objects":{"w":{"name":"wall","x":2,"y":0},"w":{"name":"again","x":3,"y":0}}}}"#,
    );
    let item = |name: &str, x, y| ItemDoc {
        name: name.into(),
        x,
        y,
    };
    assert_eq!(
        doc,
        MapDoc {
            side: 5,
            game_list: vec!["2".into(), "1".into()],
            object_list: vec!["w".into()],
            games: vec![("2".into(), item("b", 1, 0)), ("1".into(), item("a", 0, 0))],
            objects: vec![
                ("w".into(), item("wall", 2, 0)),
                ("w".into(), item("again", 3, 0))
            ],
        }
    );
}

#[test]
fn build_accepts_out_of_grid_numbers_so_the_room_can_report_76410() {
    // Negative coordinates and sides are well-formed JSON of the MAP shape: §5 makes them 76410, not 76100.
    let doc = build_doc(
        r#"40{"map":{"side":-3,"gameList":[],"objectList":["w"],"games":{},"objects":{"w":{"name":"a","x":-1,"y":99}}}}"#,
    );
    assert_eq!(doc.side, -3);
    assert_eq!((doc.objects[0].1.x, doc.objects[0].1.y), (-1, 99));
}

#[test]
fn proto_error_codes_are_76100_except_code_not_allowed() {
    assert_eq!(ProtoError::TooShort.code(), ErrorCode::Parse);
    assert_eq!(ProtoError::BadCode.code(), ErrorCode::Parse);
    assert_eq!(ProtoError::Body("x".into()).code(), ErrorCode::Parse);
    assert_eq!(ProtoError::CodeNotAllowed(12).code(), ErrorCode::CodeNotAllowed);
}

#[test]
fn error_codes_have_the_numbers_of_section_6() {
    let numbers: Vec<u32> = ErrorCode::ALL.iter().map(|c| c.as_u32()).collect();
    assert_eq!(
        numbers,
        [
            76100, 76101, 76102, 76401, 76403, 76404, 76408, 76409, 76410, 76413, 76429, 76503, 76900, 76999
        ]
    );
    for code in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_u32(code.as_u32()), Some(code));
        assert_eq!(code.to_string(), code.as_u32().to_string());
    }
    assert_eq!(ErrorCode::from_u32(12345), None);
}

#[test]
fn client_messages_encode_to_frames_the_server_reads_back() {
    let msgs = [
        ClientMsg::Enter {
            room_id: RoomId(7),
            authorization: None,
        },
        ClientMsg::Enter {
            room_id: RoomId(7),
            authorization: Some("t\"ok".into()),
        },
        ClientMsg::Sync,
        ClientMsg::Leave,
        ClientMsg::Move {
            direction: Direction::Left,
        },
        ClientMsg::Build {
            map: example_map().to_doc(),
            reference: None,
        },
        ClientMsg::Build {
            map: example_map().to_doc(),
            reference: Some("b\"7".into()),
        },
    ];
    for msg in msgs {
        assert_eq!(parse_client_frame(&msg.encode()).as_ref(), Ok(&msg));
    }
    assert_eq!(ClientMsg::Sync.encode(), "11{}");
    assert_eq!(
        ClientMsg::Move {
            direction: Direction::Right
        }
        .encode(),
        r#"20{"direction":1}"#
    );
    assert_eq!(
        ClientMsg::Enter {
            room_id: RoomId(7),
            authorization: None
        }
        .encode(),
        r#"10{"room_id":"7"}"#
    );
}

// ---- §4 server messages, byte for byte ------------------------------------

#[test]
fn enter_encodes_as_in_protocol_example() {
    let msg = ServerMsg::Enter {
        user: UserId(3),
        nickname: "n".into(),
        cell: Cell::new(0, 0),
    };
    assert_eq!(msg.encode(), r#"10{"user_id":"3","nickname":"n","x":0,"y":0}"#);
}

#[test]
fn leave_encodes_as_in_protocol_example() {
    let msg = ServerMsg::Leave { user: UserId(3) };
    assert_eq!(msg.encode(), r#"19{"user_id":"3"}"#);
}

#[test]
fn move_encodes_as_in_protocol_example() {
    let msg = ServerMsg::Move {
        user: UserId(3),
        direction: Direction::Right,
        cell: Cell::new(4, 0),
    };
    assert_eq!(msg.encode(), r#"20{"user_id":"3","direction":1,"x":4,"y":0}"#);
}

#[test]
fn close_pre_connection_encodes_as_98_with_message_and_closes_with_4000() {
    let msg = ServerMsg::ClosePreConnection {
        message: "replaced".into(),
    };
    assert_eq!(msg.encode(), r#"98{"message":"replaced"}"#);
    assert_eq!(msg.closes_with(), Some(4000));
}

#[test]
fn error_encodes_as_99_with_code_and_message_and_does_not_close() {
    let msg = ServerMsg::error(ErrorCode::Parse, "...");
    assert_eq!(msg.encode(), r#"99{"code":76100,"message":"..."}"#);
    assert_eq!(msg.closes_with(), None);
}

#[test]
fn only_close_pre_connection_closes_the_socket() {
    let others = [
        ServerMsg::Leave { user: UserId(1) },
        ServerMsg::Enter {
            user: UserId(1),
            nickname: "a".into(),
            cell: Cell::default(),
        },
        ServerMsg::Move {
            user: UserId(1),
            direction: Direction::Up,
            cell: Cell::default(),
        },
    ];
    for msg in others {
        assert_eq!(msg.closes_with(), None);
    }
}

#[test]
fn sync_encodes_the_room_example_of_protocol_byte_for_byte() {
    let mut h = Harness::with_map(example_map());
    h.enter(1, OWNER, "owner");
    h.enter(2, GUEST, "guest");
    h.step(2, Direction::Right);
    let out = h.try_sync(1).expect("owner is in the room");
    let expected = concat!(
        r#"11{"room":{"roomId":"7","userCount":2,"#,
        r#""users":{"7":{"nickname":"owner","x":0,"y":0},"3":{"nickname":"guest","x":1,"y":0}},"#,
        r#""map":{"side":20,"gameList":["12"],"objectList":["w1"],"#,
        r#""games":{"12":{"name":"Chess","x":3,"y":4}},"#,
        r#""objects":{"w1":{"name":"wall","x":5,"y":5}}}}}"#
    );
    assert_eq!(out[0].msg.encode(), expected);
}

#[test]
fn sync_of_a_room_with_no_stored_layout_shows_the_empty_map_of_side_20() {
    let mut h = Harness::new();
    let out = h.enter(1, OWNER, "owner");
    assert_eq!(
        out[1].msg.encode(),
        concat!(
            r#"11{"room":{"roomId":"7","userCount":1,"users":{"7":{"nickname":"owner","x":0,"y":0}},"#,
            r#""map":{"side":20,"gameList":[],"objectList":[],"games":{},"objects":{}}}}"#
        )
    );
}

#[test]
fn strings_are_json_escaped_and_never_contain_a_raw_newline() {
    let nickname = "a\"b\\c\nd\u{1}é🦀";
    let msg = ServerMsg::Enter {
        user: UserId(3),
        nickname: nickname.into(),
        cell: Cell::new(1, 2),
    };
    let frame = msg.encode();
    assert!(!frame.contains('\n'), "{frame}");
    assert_eq!(
        frame,
        "10{\"user_id\":\"3\",\"nickname\":\"a\\\"b\\\\c\\nd\\u0001é🦀\",\"x\":1,\"y\":2}"
    );
    assert_eq!(parse_server_frame(&frame), Ok(msg));
}

#[test]
fn encode_into_appends_to_the_buffer() {
    let mut out = String::from("x");
    ServerMsg::Leave { user: UserId(3) }.encode_into(&mut out);
    assert_eq!(out, r#"x19{"user_id":"3"}"#);
}

#[test]
fn split_batch_yields_one_message_per_line() {
    let a = ServerMsg::Leave { user: UserId(3) }.encode();
    let b = ServerMsg::Move {
        user: UserId(4),
        direction: Direction::Down,
        cell: Cell::new(0, 1),
    }
    .encode();
    let frame = format!("{a}\n{b}\n");
    let lines: Vec<&str> = split_batch(&frame).collect();
    assert_eq!(lines, [a.as_str(), b.as_str()]);
    for line in lines {
        assert!(parse_server_frame(line).is_ok());
    }
}

#[test]
fn server_frame_with_a_client_only_code_is_refused() {
    assert_eq!(parse_server_frame("40{}"), Err(ProtoError::CodeNotAllowed(40)));
}

#[test]
fn server_sync_whose_user_count_disagrees_is_refused() {
    let mut h = Harness::new();
    let frame = h.enter(1, OWNER, "o")[1].msg.encode();
    let lying = frame.replace(r#""userCount":1"#, r#""userCount":2"#);
    assert!(parse_server_frame(&frame).is_ok());
    assert_eq!(
        parse_server_frame(&lying).map_err(|e| e.code()),
        Err(ErrorCode::Parse)
    );
}

// ---- MAP and ROOM objects on their own (stored maps, GET /rooms/{id}) ----------------

#[test]
fn encode_room_is_the_room_object_that_sync_carries() {
    let mut h = Harness::with_map(example_map());
    h.enter(1, OWNER, "owner");
    let sync = h.try_sync(1).expect("in the room")[0].msg.encode();
    let room = room_core::codec::encode_room(&h.room.view());
    assert_eq!(sync, format!(r#"11{{"room":{room}}}"#));
}

#[test]
fn map_object_reads_back_as_the_document_written() {
    let doc = example_map().to_doc();
    let json = room_core::codec::encode_map_doc(&doc);
    assert_eq!(
        json,
        concat!(
            r#"{"side":20,"gameList":["12"],"objectList":["w1"],"#,
            r#""games":{"12":{"name":"Chess","x":3,"y":4}},"objects":{"w1":{"name":"wall","x":5,"y":5}}}"#
        )
    );
    assert_eq!(room_core::codec::parse_map_doc(&json), Ok(doc));
}

#[test]
fn map_object_that_is_not_the_map_shape_is_76100() {
    for json in [
        "",
        "[]",
        r#"{"side":20}"#,
        r#"{"side":"20","gameList":[],"objectList":[],"games":{},"objects":{}}"#,
    ] {
        let err = room_core::codec::parse_map_doc(json).expect_err("refused");
        assert_eq!(err.code(), ErrorCode::Parse, "{json:?}");
    }
}

// PROTOCOL.md §9: what an opted-in socket gets.

#[test]
fn a_room_event_for_an_opted_in_socket_carries_its_number_and_reads_back_the_same() {
    let moved = ServerMsg::Move {
        user: UserId(3),
        direction: Direction::Left,
        cell: Cell::new(1, 2),
    };
    let frame = moved.encode_with_seq(41);
    assert_eq!(
        frame,
        "20{\"user_id\":\"3\",\"direction\":3,\"x\":1,\"y\":2,\"seq\":41}"
    );
    assert_eq!(parse_server_frame(&frame).unwrap(), moved);
    assert_eq!(frame_seq(&frame).unwrap(), Some(41));
    // A socket that did not opt in sees the frame it always saw.
    assert_eq!(frame_seq(&moved.encode()).unwrap(), None);
}

#[test]
fn a_sync_for_an_opted_in_socket_carries_the_number_of_its_last_event() {
    let sync = ServerMsg::Sync {
        room: RoomView {
            room_id: RoomId(7),
            users: vec![UserView {
                user: UserId(7),
                nickname: "o\"wner".into(),
                cell: Cell::new(0, 0),
            }],
            map: Map::empty(),
        },
    };
    let frame = sync.encode_with_seq(9);
    assert!(frame.ends_with(",\"seq\":9}"), "{frame}");
    assert_eq!(parse_server_frame(&frame).unwrap(), sync);
    assert_eq!(frame_seq(&frame).unwrap(), Some(9));
}

#[test]
fn seat_and_resumed_read_back_as_they_were_sent() {
    let seat = ServerMsg::Seat {
        token: "v1.a\"b".into(),
        room: RoomId(7),
    };
    assert_eq!(seat.encode(), "12{\"token\":\"v1.a\\\"b\",\"room_id\":\"7\"}");
    assert_eq!(parse_server_frame(&seat.encode()).unwrap(), seat);
    let resumed = ServerMsg::Resumed {
        room: RoomId(7),
        seq: 12,
        replayed: 3,
    };
    assert_eq!(
        resumed.encode(),
        "13{\"room_id\":\"7\",\"seq\":12,\"replayed\":3}"
    );
    assert_eq!(parse_server_frame(&resumed.encode()).unwrap(), resumed);
    // RESUMED's `seq` is what it says, not the number of an event of its own.
    assert_eq!(frame_seq(&resumed.encode()).unwrap(), None);
}

#[test]
fn a_seat_that_is_gone_is_76408() {
    assert_eq!(ErrorCode::SeatExpired.as_u32(), 76408);
    assert_eq!(ErrorCode::from_u32(76408), Some(ErrorCode::SeatExpired));
}

#[test]
fn a_builds_ref_is_read_and_a_bad_one_is_76100() {
    let frame = "40{\"map\":{\"side\":4,\"gameList\":[],\"objectList\":[],\"games\":{},\"objects\":{}},\"ref\":\"b1\"}";
    match parse_client_frame(frame) {
        Ok(ClientMsg::Build { reference, .. }) => assert_eq!(reference.as_deref(), Some("b1")),
        other => panic!("not a BUILD: {other:?}"),
    }
    let map = "{\"side\":4,\"gameList\":[],\"objectList\":[],\"games\":{},\"objects\":{}}";
    for bad in [
        "\"\"".to_owned(),
        "7".to_owned(),
        format!("\"{}\"", "r".repeat(65)),
    ] {
        let frame = format!("40{{\"map\":{map},\"ref\":{bad}}}");
        let error = parse_client_frame(&frame).expect_err(&frame);
        assert_eq!(error.code(), ErrorCode::Parse, "{frame}");
    }
}

#[test]
fn a_ref_and_you_are_added_to_a_frame_and_read_back() {
    let error = ServerMsg::error(ErrorCode::Forbidden, "no").encode();
    let answered = room_core::with_ref(&error, "b\"1");
    assert_eq!(
        answered,
        "99{\"code\":76403,\"message\":\"no\",\"ref\":\"b\\\"1\"}"
    );
    assert_eq!(room_core::frame_ref(&answered).unwrap().as_deref(), Some("b\"1"));
    assert_eq!(room_core::frame_ref(&error).unwrap(), None);
    assert!(
        parse_server_frame(&answered).is_ok(),
        "a reader that knows no ref still reads it"
    );
    assert_eq!(
        room_core::with_you("11{\"room\":{}}", UserId(3)),
        "11{\"room\":{},\"you\":\"3\"}"
    );
}
