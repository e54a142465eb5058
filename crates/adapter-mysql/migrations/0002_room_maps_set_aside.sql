-- myroom schema, version 2. A stored map that cannot be read is moved here,
-- never overwritten, and its room goes on without a map (same version) so the
-- owner can BUILD again. No foreign key: the record outlives its user.

CREATE TABLE IF NOT EXISTS room_maps_set_aside (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    owner_id     BIGINT UNSIGNED NOT NULL,
    version      BIGINT UNSIGNED NOT NULL,
    map_doc      LONGTEXT        NOT NULL,
    reason       VARCHAR(1024)   NOT NULL,
    set_aside_at DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    KEY set_aside_by_owner (owner_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
