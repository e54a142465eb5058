-- myroom schema, version 1. Every statement is idempotent (IF NOT EXISTS), so a
-- migration cut off halfway (server gone, process killed) is simply run again.
-- Written for both MySQL 8 and MariaDB 10.11: no JSON column type (LONGTEXT),
-- no RETURNING, no syntax only one of them has.

CREATE TABLE IF NOT EXISTS users (
    id       BIGINT UNSIGNED NOT NULL,
    nickname VARCHAR(255)    NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS games (
    id   BIGINT UNSIGNED NOT NULL,
    name VARCHAR(255)    NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS library (
    user_id BIGINT UNSIGNED NOT NULL,
    game_id BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (user_id, game_id),
    KEY library_by_game (game_id),
    CONSTRAINT library_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT library_game FOREIGN KEY (game_id) REFERENCES games (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS room_maps (
    owner_id   BIGINT UNSIGNED NOT NULL,
    map_doc    LONGTEXT        NULL,
    version    BIGINT UNSIGNED NOT NULL,
    updated_at DATETIME(3)     NOT NULL,
    PRIMARY KEY (owner_id),
    CONSTRAINT room_maps_owner FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
