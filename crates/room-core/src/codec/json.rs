//! Serde shapes shared by the client and server codecs.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::map::{ItemDoc, MapDoc};

/// A JSON object read as `(key, value)` pairs in document order, duplicates
/// kept, so validation can see them (serde_json's own map would drop them).
#[derive(Debug)]
pub(crate) struct Pairs<T>(pub Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Pairs<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for PairsVisitor<T> {
            type Value = Pairs<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(access.size_hint().unwrap_or(0).min(4096));
                while let Some((key, value)) = access.next_entry::<String, T>()? {
                    pairs.push((key, value));
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor(PhantomData))
    }
}

#[derive(Deserialize)]
pub(crate) struct ItemJson {
    name: String,
    x: i64,
    y: i64,
}

/// The MAP shape of PROTOCOL.md §4.
#[derive(Deserialize)]
pub(crate) struct MapJson {
    side: i64,
    #[serde(rename = "gameList")]
    game_list: Vec<String>,
    #[serde(rename = "objectList")]
    object_list: Vec<String>,
    games: Pairs<ItemJson>,
    objects: Pairs<ItemJson>,
}

impl From<MapJson> for MapDoc {
    fn from(json: MapJson) -> MapDoc {
        let items = |pairs: Pairs<ItemJson>| {
            pairs
                .0
                .into_iter()
                .map(|(id, it)| {
                    (
                        id,
                        ItemDoc {
                            name: it.name,
                            x: it.x,
                            y: it.y,
                        },
                    )
                })
                .collect()
        };
        MapDoc {
            side: json.side,
            game_list: json.game_list,
            object_list: json.object_list,
            games: items(json.games),
            objects: items(json.objects),
        }
    }
}

/// A user id or room id that may be a JSON string of digits or a number.
pub(crate) fn id_from_str_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrNum<'a> {
        Num(u64),
        Str(&'a str),
        Owned(String),
    }
    let parse = |s: &str| {
        s.parse::<u64>()
            .ok()
            .filter(|_| !s.starts_with('+'))
            .ok_or_else(|| de::Error::custom(format!("{s:?} is not a non-negative integer id")))
    };
    match StrOrNum::deserialize(deserializer)? {
        StrOrNum::Num(n) => Ok(n),
        StrOrNum::Str(s) => parse(s),
        StrOrNum::Owned(s) => parse(&s),
    }
}
