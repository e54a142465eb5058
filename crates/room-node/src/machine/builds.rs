//! What the store's answer to a BUILD's save means (the queue of a room's
//! BUILDs and their checks are room-core's). Pure: inputs in, decisions out.

use room_core::{ErrorCode, Map, RoomId};
use room_ports::{StoreError, StoredRoom};

/// The ERROR a BUILD over the in-flight bound gets.
pub(crate) const TOO_MANY: &str = "too many BUILDs of this room in flight; wait for their answers";

/// What the room does with the store's answer to a save.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterSave {
    /// Stored as this version: commit it and SYNC everyone.
    Commit(u64),
    /// Not stored; tell the builder, change nothing.
    Refuse(ErrorCode, String),
    /// Read the stored room back before deciding: someone else stored a
    /// newer map (a conflict), or the answer was lost (ambiguous commit).
    ReadBack,
}

/// The clear error of a BUILD saved by a host that lost the room.
pub(crate) const FENCED: &str = "another node hosts this room now; the map was not stored; try again";

/// What a save's answer means.
pub(crate) fn after_save(result: &Result<u64, StoreError>) -> AfterSave {
    match result {
        Ok(version) => AfterSave::Commit(*version),
        // A newer host saved the room: nothing changed, and this host's view
        // of the room is not the one to reload (the new host serves it).
        Err(error @ StoreError::Fenced { .. }) => {
            let (code, message) = store_error_reply(error);
            AfterSave::Refuse(code, message)
        }
        // Unavailable includes a deadline passing after the commit was sent.
        Err(StoreError::VersionConflict { .. } | StoreError::Unavailable(_)) => AfterSave::ReadBack,
        Err(error) => {
            let (code, message) = store_error_reply(error);
            AfterSave::Refuse(code, message)
        }
    }
}

/// What the stored room, read back after a conflict or a lost answer, decides.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Our save did land (its answer was lost): commit it as this version.
    Committed(u64),
    /// Someone else's map is stored: show it to everyone and refuse the BUILD.
    Reload(Map, u64, Option<String>),
    /// Nothing changed: refuse the BUILD.
    Refuse(ErrorCode, String),
}

/// The clear error of a BUILD that lost a version race.
pub(crate) const CONFLICT: &str = "the map was changed elsewhere meanwhile and was not stored; \
     the room now shows the stored map (SYNC); send BUILD again";

/// Decide from `stored`, read back after saving `built` over version
/// `expected`, whether that save landed.
pub(crate) fn resolve(
    room: RoomId,
    expected: u64,
    built: &Map,
    stored: Result<Option<StoredRoom>, StoreError>,
) -> Resolved {
    let unavailable = || {
        Resolved::Refuse(
            ErrorCode::Unavailable,
            "the map store is unavailable and the map was not stored; try again".to_owned(),
        )
    };
    let stored = match stored {
        Ok(Some(stored)) => stored,
        Ok(None) => return Resolved::Refuse(ErrorCode::RoomNotFound, format!("room {room} not found")),
        Err(_) => return unavailable(),
    };
    let map = stored
        .map
        .as_ref()
        .map(|doc| Map::validate(doc, room_core::map::MAX_SIDE));
    if stored.version == expected {
        return unavailable();
    }
    if stored.version == expected + 1 && matches!(&map, Some(Ok(map)) if map == built) {
        return Resolved::Committed(stored.version);
    }
    match map {
        None => Resolved::Reload(Map::empty(), stored.version, None),
        Some(Ok(map)) => Resolved::Reload(map, stored.version, None),
        Some(Err(e)) => Resolved::Reload(
            Map::empty(),
            stored.version,
            Some(format!(
                "the stored map (version {}) is invalid and was not loaded: {e}",
                stored.version
            )),
        ),
    }
}

/// The ERROR a failed save is answered with.
pub(crate) fn store_error_reply(error: &StoreError) -> (ErrorCode, String) {
    match error {
        StoreError::GameNotOwned(game) => (
            ErrorCode::Forbidden,
            format!("game {game} is not in the owner's library"),
        ),
        StoreError::RoomNotFound(room) => (ErrorCode::RoomNotFound, format!("room {room} not found")),
        StoreError::VersionConflict { .. } => (ErrorCode::Unavailable, CONFLICT.to_owned()),
        StoreError::Fenced { .. } => (ErrorCode::Unavailable, FENCED.to_owned()),
        StoreError::Unavailable(_) => (
            ErrorCode::Unavailable,
            "the map store is unavailable; try again".to_owned(),
        ),
        _ => (ErrorCode::Internal, "the map could not be stored".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use room_core::MapDoc;

    fn stored(version: u64, map: Option<&Map>) -> Result<Option<StoredRoom>, StoreError> {
        Ok(Some(StoredRoom {
            owner_nickname: "owner".into(),
            map: map.map(Map::to_doc),
            version,
            set_aside: None,
        }))
    }

    fn side(n: u16) -> Map {
        Map::validate(
            &MapDoc {
                side: n.into(),
                ..MapDoc::default()
            },
            64,
        )
        .unwrap()
    }

    #[test]
    fn a_conflict_and_a_lost_answer_are_read_back() {
        let conflict = Err(StoreError::VersionConflict {
            expected: 1,
            found: 2,
        });
        assert_eq!(after_save(&conflict), AfterSave::ReadBack);
        assert_eq!(
            after_save(&Err(StoreError::Unavailable("timeout".into()))),
            AfterSave::ReadBack
        );
        assert_eq!(after_save(&Ok(3)), AfterSave::Commit(3));
    }

    #[test]
    fn a_fenced_save_is_refused_with_76503_and_not_read_back() {
        let fenced = Err(StoreError::Fenced {
            room: RoomId(7),
            epoch: 3,
            stored_epoch: 4,
        });
        assert_eq!(
            after_save(&fenced),
            AfterSave::Refuse(ErrorCode::Unavailable, FENCED.to_owned())
        );
    }

    #[test]
    fn a_lost_answer_whose_map_is_stored_is_committed() {
        let built = side(10);
        assert_eq!(
            resolve(RoomId(7), 4, &built, stored(5, Some(&built))),
            Resolved::Committed(5)
        );
    }

    #[test]
    fn a_lost_answer_that_stored_nothing_is_refused() {
        let resolved = resolve(RoomId(7), 4, &side(10), stored(4, Some(&side(12))));
        assert!(matches!(resolved, Resolved::Refuse(ErrorCode::Unavailable, _)));
    }

    #[test]
    fn another_writers_map_is_reloaded() {
        let theirs = side(12);
        let resolved = resolve(RoomId(7), 4, &side(10), stored(5, Some(&theirs)));
        assert_eq!(resolved, Resolved::Reload(theirs, 5, None));
        let resolved = resolve(RoomId(7), 4, &side(10), stored(9, None));
        assert_eq!(resolved, Resolved::Reload(Map::empty(), 9, None));
    }
}
