//! Users to create at start: the `--fixtures` file, or the demo users.
//!
//! The file is JSON, exactly
//! `{"users":[{"idx":1,"nickname":"alice","games":[12,13]}]}`, where a game
//! may also be written `{"id":12,"name":"Chess"}`.

use std::path::Path;

use room_core::{GameId, UserId};
use room_ports::{GameInfo, UserSeed};
use serde::Deserialize;

/// Why a fixtures file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixturesError {
    /// The file cannot be read.
    #[error("cannot read fixtures file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not fixtures JSON.
    #[error("fixtures file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixturesJson {
    users: Vec<UserJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserJson {
    idx: u64,
    nickname: String,
    #[serde(default)]
    games: Vec<GameJson>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum GameJson {
    Id(u64),
    Named { id: u64, name: String },
}

/// Read and check a fixtures file.
pub fn load_fixtures(path: &Path) -> Result<Vec<UserSeed>, FixturesError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FixturesError::Read {
        path: shown.clone(),
        source,
    })?;
    parse_fixtures(&text).map_err(|reason| FixturesError::Invalid { path: shown, reason })
}

/// Parse fixtures JSON; the error names the problem.
pub fn parse_fixtures(text: &str) -> Result<Vec<UserSeed>, String> {
    let parsed: FixturesJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut seen = std::collections::BTreeSet::new();
    let mut seeds = Vec::with_capacity(parsed.users.len());
    for user in parsed.users {
        if !seen.insert(user.idx) {
            return Err(format!("user idx {} appears twice", user.idx));
        }
        let chars = user.nickname.chars().count();
        if chars == 0 || chars > 32 {
            return Err(format!("user {}: nickname must be 1..=32 characters", user.idx));
        }
        let games = user
            .games
            .into_iter()
            .map(|game| match game {
                GameJson::Id(id) => GameInfo {
                    id: GameId(id),
                    name: format!("Game {id}"),
                },
                GameJson::Named { id, name } => GameInfo { id: GameId(id), name },
            })
            .collect::<Vec<_>>();
        if let Some(bad) = games
            .iter()
            .find(|g| g.name.is_empty() || g.name.chars().count() > 64)
        {
            return Err(format!(
                "user {}: game {} name must be 1..=64 characters",
                user.idx, bad.id
            ));
        }
        seeds.push(UserSeed {
            user: UserId(user.idx),
            nickname: user.nickname,
            games,
        });
    }
    Ok(seeds)
}

/// The users of the embedded default, so a first run has someone to sign in as.
pub fn demo_users() -> Vec<UserSeed> {
    let game = |id: u64, name: &str| GameInfo {
        id: GameId(id),
        name: name.to_owned(),
    };
    vec![
        UserSeed {
            user: UserId(1),
            nickname: "alice".into(),
            games: vec![game(12, "Chess"), game(13, "Go")],
        },
        UserSeed {
            user: UserId(2),
            nickname: "bob".into(),
            games: vec![game(14, "Poker")],
        },
        UserSeed {
            user: UserId(3),
            nickname: "carol".into(),
            games: vec![game(12, "Chess"), game(15, "Tetris")],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn games_may_be_ids_or_named_objects() {
        let seeds = parse_fixtures(
            r#"{"users":[{"idx":1,"nickname":"alice","games":[12,{"id":13,"name":"Go"}]},{"idx":2,"nickname":"bob","games":[]}]}"#,
        )
        .unwrap();
        assert_eq!(seeds.len(), 2);
        assert_eq!(seeds[0].games[0].name, "Game 12");
        assert_eq!(
            seeds[0].games[1],
            GameInfo {
                id: GameId(13),
                name: "Go".into()
            }
        );
    }

    #[test]
    fn a_duplicate_user_is_named_in_the_error() {
        let err =
            parse_fixtures(r#"{"users":[{"idx":1,"nickname":"a"},{"idx":1,"nickname":"b"}]}"#).unwrap_err();
        assert!(err.contains("idx 1"), "{err}");
    }

    #[test]
    fn a_misspelt_field_is_refused() {
        assert!(parse_fixtures(r#"{"users":[{"id":1,"nickname":"a"}]}"#).is_err());
    }
}
