//! The stored map document: the MAP shape of PROTOCOL.md §4 as JSON text,
//! with `games` and `objects` kept in document order.

use std::fmt;

use room_core::{ItemDoc, MapDoc};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `map` as the JSON text stored in `room_maps.map_doc`.
pub(crate) fn encode(map: &MapDoc) -> String {
    let json = MapJson {
        side: map.side,
        game_list: map.game_list.clone(),
        object_list: map.object_list.clone(),
        games: Entries(map.games.iter().map(item_json).collect()),
        objects: Entries(map.objects.iter().map(item_json).collect()),
    };
    serde_json::to_string(&json).expect("a map document always serializes (string keys, plain values)")
}

/// The document stored as `text`, as stored: not validated.
pub(crate) fn decode(text: &str) -> Result<MapDoc, serde_json::Error> {
    let json: MapJson = serde_json::from_str(text)?;
    Ok(MapDoc {
        side: json.side,
        game_list: json.game_list,
        object_list: json.object_list,
        games: json.games.0.into_iter().map(item_doc).collect(),
        objects: json.objects.0.into_iter().map(item_doc).collect(),
    })
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MapJson {
    side: i64,
    game_list: Vec<String>,
    object_list: Vec<String>,
    games: Entries,
    objects: Entries,
}

#[derive(Serialize, Deserialize)]
struct ItemJson {
    name: String,
    x: i64,
    y: i64,
}

fn item_json((id, item): &(String, ItemDoc)) -> (String, ItemJson) {
    let json = ItemJson {
        name: item.name.clone(),
        x: item.x,
        y: item.y,
    };
    (id.clone(), json)
}

fn item_doc((id, item): (String, ItemJson)) -> (String, ItemDoc) {
    let doc = ItemDoc {
        name: item.name,
        x: item.x,
        y: item.y,
    };
    (id, doc)
}

/// A JSON object read and written in document order (duplicates kept, so
/// validation still sees them).
struct Entries(Vec<(String, ItemJson)>);

impl Serialize for Entries {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (id, item) in &self.0 {
            map.serialize_entry(id, item)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor)
    }
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Entries;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of items")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Entries, A::Error> {
        let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(4096));
        while let Some(entry) = access.next_entry::<String, ItemJson>()? {
            entries.push(entry);
        }
        Ok(Entries(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, x: i64, y: i64) -> ItemDoc {
        ItemDoc {
            name: name.into(),
            x,
            y,
        }
    }

    fn sample() -> MapDoc {
        MapDoc {
            side: 20,
            game_list: vec!["12".into(), "3".into()],
            object_list: vec!["w1".into()],
            games: vec![
                ("12".into(), item("Chess", 3, 4)),
                ("3".into(), item("Go \u{1F600}", 0, 1)),
            ],
            objects: vec![("w1".into(), item("wall", 5, 5))],
        }
    }

    #[test]
    fn round_trip_keeps_document_order() {
        let doc = sample();
        assert_eq!(decode(&encode(&doc)).expect("decodes"), doc);
    }

    #[test]
    fn encodes_the_protocol_map_shape() {
        let value: serde_json::Value = serde_json::from_str(&encode(&sample())).expect("json");
        assert_eq!(value["gameList"][0], "12");
        assert_eq!(value["games"]["12"]["name"], "Chess");
        assert_eq!(value["objects"]["w1"]["x"], 5);
    }

    #[test]
    fn duplicate_keys_survive_for_validation_to_see() {
        let text = r#"{"side":5,"gameList":["1"],"objectList":[],
            "games":{"1":{"name":"a","x":0,"y":0},"1":{"name":"b","x":1,"y":0}},"objects":{}}"#;
        let doc = decode(text).expect("decodes");
        assert_eq!(doc.games.len(), 2);
    }

    #[test]
    fn text_that_is_not_a_map_is_an_error() {
        assert!(decode("not json").is_err());
        assert!(decode(r#"{"side":"big"}"#).is_err());
    }
}
