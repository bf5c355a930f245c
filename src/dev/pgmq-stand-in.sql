-- pgmq-stand-in.sql: a STAND-IN for PGMQ, for tests and local use only.
--
-- PGMQ (https://github.com/pgmq/pgmq) is a PostgreSQL extension and is not published on npm,
-- so the embedded PostgreSQL used by tests and local development does not have it. This file
-- gives a database the few PGMQ 1.x functions the API and its tests call, with PGMQ's
-- signatures and result shapes, storing messages in pgmq.q_<queue> tables as PGMQ does:
--
--   pgmq.create(queue_name text) RETURNS void
--   pgmq.send(queue_name text, msg jsonb) RETURNS SETOF bigint
--   pgmq.send(queue_name text, msg jsonb, delay integer) RETURNS SETOF bigint
--   pgmq.list_queues() RETURNS SETOF pgmq.queue_record
--   pgmq.read(queue_name text, vt integer, qty integer) RETURNS SETOF pgmq.message_record
--
-- Production uses the real extension (CREATE EXTENSION pgmq, or a PGMQ-enabled PostgreSQL
-- image); never install this file there. It is standalone SQL and re-runnable.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgmq') THEN
        RAISE EXCEPTION 'the real pgmq extension is installed in this database: the stand-in is not needed and would replace its functions';
    END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS pgmq;

CREATE TABLE IF NOT EXISTS pgmq.meta (
    queue_name VARCHAR UNIQUE NOT NULL,
    is_partitioned BOOLEAN NOT NULL,
    is_unlogged BOOLEAN NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL
);

-- Types have no IF NOT EXISTS.
DO $$
BEGIN
    CREATE TYPE pgmq.message_record AS (
        msg_id BIGINT,
        read_ct INTEGER,
        enqueued_at TIMESTAMP WITH TIME ZONE,
        vt TIMESTAMP WITH TIME ZONE,
        message JSONB
    );
EXCEPTION WHEN duplicate_object THEN NULL;
END
$$;

DO $$
BEGIN
    CREATE TYPE pgmq.queue_record AS (
        queue_name VARCHAR,
        is_partitioned BOOLEAN,
        is_unlogged BOOLEAN,
        created_at TIMESTAMP WITH TIME ZONE
    );
EXCEPTION WHEN duplicate_object THEN NULL;
END
$$;

-- Like PGMQ: the queue table is q_ plus the lower-cased name; names PGMQ refuses are refused.
CREATE OR REPLACE FUNCTION pgmq.create(queue_name TEXT)
RETURNS void AS $$
BEGIN
    IF queue_name ~ '\$|;|--|''' THEN
        RAISE EXCEPTION 'queue name contains invalid characters: $, ;, --, or \''';
    END IF;
    IF length(queue_name) >= 48 THEN
        RAISE EXCEPTION 'queue name is too long, maximum length is 48 characters';
    END IF;
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS pgmq.%I (
             msg_id BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
             read_ct INT DEFAULT 0 NOT NULL,
             enqueued_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
             vt TIMESTAMP WITH TIME ZONE NOT NULL,
             message JSONB
         )',
        'q_' || lower(queue_name));
    INSERT INTO pgmq.meta (queue_name, is_partitioned, is_unlogged)
    VALUES (queue_name, false, false)
    ON CONFLICT DO NOTHING;
END;
$$ LANGUAGE plpgsql;

-- Sending to a queue that was never created fails, as with PGMQ (its table does not exist).
CREATE OR REPLACE FUNCTION pgmq.send(queue_name TEXT, msg JSONB, delay INTEGER)
RETURNS SETOF BIGINT AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'INSERT INTO pgmq.%I (vt, message) VALUES (clock_timestamp() + make_interval(secs => $1), $2) RETURNING msg_id',
        'q_' || lower(queue_name))
    USING delay, msg;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name TEXT, msg JSONB)
RETURNS SETOF BIGINT AS $$
    SELECT * FROM pgmq.send(queue_name, msg, 0);
$$ LANGUAGE sql;

CREATE OR REPLACE FUNCTION pgmq.list_queues()
RETURNS SETOF pgmq.queue_record AS $$
    SELECT queue_name, is_partitioned, is_unlogged, created_at FROM pgmq.meta;
$$ LANGUAGE sql;

-- Reads up to qty visible messages, oldest first, hiding them for vt seconds.
CREATE OR REPLACE FUNCTION pgmq.read(queue_name TEXT, vt INTEGER, qty INTEGER)
RETURNS SETOF pgmq.message_record AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'WITH visible AS (
             SELECT msg_id FROM pgmq.%1$I
              WHERE vt <= clock_timestamp()
              ORDER BY msg_id
              LIMIT $1
              FOR UPDATE SKIP LOCKED
         )
         UPDATE pgmq.%1$I m
            SET vt = clock_timestamp() + make_interval(secs => $2), read_ct = m.read_ct + 1
           FROM visible
          WHERE m.msg_id = visible.msg_id
         RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message',
        'q_' || lower(queue_name))
    USING qty, vt;
END;
$$ LANGUAGE plpgsql;
