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
///
/// A hand-written visitor rather than an untagged enum: untagged enums go
/// through serde's buffered content, which changes meaning when another crate
/// of the build turns on serde_json's `arbitrary_precision`.
pub(crate) fn id_from_str_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct IdVisitor;
    impl Visitor<'_> for IdVisitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer id, as a number or a string of digits")
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<u64, E> {
            Ok(n)
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<u64, E> {
            u64::try_from(n).map_err(|_| E::invalid_value(de::Unexpected::Signed(n), &self))
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
            parse_decimal_id(s).ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
        }
    }
    deserializer.deserialize_any(IdVisitor)
}

/// A non-empty string of ASCII digits that fits a `u64` (no sign, no spaces).
pub(crate) fn parse_decimal_id(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
