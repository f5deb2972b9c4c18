BEGIN TRANSACTION;
CREATE TABLE event_sourcery_events (
	id INTEGER NOT NULL, 
	version INTEGER, 
	uuid CHAR(32), 
	name VARCHAR(200) NOT NULL, 
	data TEXT NOT NULL, 
	event_context TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	db_stream_id INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(db_stream_id) REFERENCES event_sourcery_streams (id)
);
INSERT INTO "event_sourcery_events" VALUES(1,1,'f28d24485e14569da956b3aebf3de224','pmc_test_store.ItemAdded','{"item": "disk"}','{"correlation_id": null, "causation_id": null}','2030-01-01 12:00:00.000000',1);
INSERT INTO "event_sourcery_events" VALUES(2,2,'53a7660da2a55aa1987f1d2a4325e704','pmc_test_store.ItemAdded','{"item": "cpu"}','{"correlation_id": null, "causation_id": null}','2030-01-01 12:00:00.000000',1);
INSERT INTO "event_sourcery_events" VALUES(3,3,'9eefd8f015335336849460ff431e8c07','pmc_test_store.ItemRemoved','{"item": "disk", "reason": "unused"}','{"correlation_id": null, "causation_id": null}','2030-01-01 12:00:01.000000',1);
INSERT INTO "event_sourcery_events" VALUES(4,1,'651da5c92e015a3da8d0e5378364f6ad','pmc_test_store.ItemAdded','{"item": "gpu"}','{"correlation_id": null, "causation_id": null}','2030-01-01 12:00:02.000000',2);
CREATE TABLE event_sourcery_outbox_entries (
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	data TEXT NOT NULL, 
	stream_name VARCHAR(255), 
	position INTEGER, 
	tries_left INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE event_sourcery_projector_cursors (
	id INTEGER NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	stream_id CHAR(32) NOT NULL, 
	category VARCHAR(255), 
	version BIGINT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE event_sourcery_snapshots (
	uuid CHAR(32) NOT NULL, 
	version INTEGER NOT NULL, 
	name VARCHAR(50) NOT NULL, 
	data TEXT NOT NULL, 
	event_context TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	db_stream_id INTEGER NOT NULL, 
	PRIMARY KEY (uuid), 
	FOREIGN KEY(db_stream_id) REFERENCES event_sourcery_streams (id)
);
CREATE TABLE event_sourcery_streams (
	id INTEGER NOT NULL, 
	uuid CHAR(32) NOT NULL, 
	name VARCHAR(255), 
	category VARCHAR(255) NOT NULL, 
	tenant_id VARCHAR(255) NOT NULL, 
	version BIGINT, 
	PRIMARY KEY (id), 
	UNIQUE (uuid, category, tenant_id), 
	UNIQUE (name, category, tenant_id)
);
INSERT INTO "event_sourcery_streams" VALUES(1,'91a2dc41196855db9998a0af3e7bd417','r1','Cleanup','',3);
INSERT INTO "event_sourcery_streams" VALUES(2,'160b23558a93546e9847665509e151c6','r2','Cleanup','',1);
CREATE TABLE pmc_streams (
	category VARCHAR(255) NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	version BIGINT NOT NULL, 
	PRIMARY KEY (category, "key")
);
INSERT INTO "pmc_streams" VALUES('Cleanup','r1',3);
INSERT INTO "pmc_streams" VALUES('Cleanup','r2',1);
CREATE TABLE pmc_work (
	category VARCHAR(255) NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	work_id VARCHAR(255) NOT NULL, 
	kind VARCHAR(255) NOT NULL, 
	due_at DATETIME NOT NULL, 
	payload JSON NOT NULL, 
	claimed_by VARCHAR(255), 
	lease_until DATETIME, 
	PRIMARY KEY (category, "key", work_id), 
	FOREIGN KEY(category, "key") REFERENCES pmc_streams (category, "key")
);
INSERT INTO "pmc_work" VALUES('Cleanup','r1','w1','task','2030-01-01 12:05:00.000000','{"n": 1}',NULL,NULL);
CREATE INDEX ix_event_sourcery_outbox_entries_created_at ON event_sourcery_outbox_entries (created_at);
CREATE UNIQUE INDEX ix_name_stream_id_event_sourcery_projector_cursors ON event_sourcery_projector_cursors (name, stream_id, category);
CREATE INDEX ix_event_sourcery_projector_cursors_stream_id ON event_sourcery_projector_cursors (stream_id);
CREATE UNIQUE INDEX ix_events_stream_id_version_event_sourcery_events ON event_sourcery_events (db_stream_id, version);
CREATE INDEX ix_event_sourcery_events_created_at ON event_sourcery_events (created_at);
CREATE INDEX ix_event_sourcery_events_db_stream_id ON event_sourcery_events (db_stream_id);
CREATE UNIQUE INDEX ix_event_sourcery_events_uuid ON event_sourcery_events (uuid);
CREATE INDEX ix_event_sourcery_snapshots_db_stream_id ON event_sourcery_snapshots (db_stream_id);
CREATE INDEX ix_pmc_work_due_at ON pmc_work (due_at);
COMMIT;
