-- myroom schema, version 4. The highest fencing epoch (the room host's lease
-- epoch) that saved each room's map: a save under a lower one is refused, so a
-- host that lost its room cannot overwrite the new host's map. Maps saved
-- before this column existed count as saved under epoch 0.
--
-- MySQL 8 has no ADD COLUMN IF NOT EXISTS (MariaDB has), so the statement is
-- chosen from the catalogue: run again, it does nothing.

SET @room_maps_epoch = (
    SELECT IF(COUNT(*) = 0,
              'ALTER TABLE room_maps ADD COLUMN epoch BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER version',
              'DO 0')
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'room_maps' AND column_name = 'epoch'
);
PREPARE room_maps_epoch FROM @room_maps_epoch;
EXECUTE room_maps_epoch;
DEALLOCATE PREPARE room_maps_epoch;
