-- SPDX-License-Identifier: Apache-2.0
-- The writ-cloud store at schema version 1 (cloud/schema.c before secure debug, commit
-- bc0862f), with a little data, for cloud_migrate.sh. @PK@, @BLOB@,
-- @BIG@ and @HEX(..)@ are replaced with each engine's spelling by the test.
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orgs (id @PK@, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL CHECK (kind IN ('oem', 'odm')), created @BIG@ NOT NULL);
CREATE TABLE IF NOT EXISTS users (id @PK@, org_id @BIG@ NOT NULL REFERENCES orgs(id), name TEXT NOT NULL, role TEXT NOT NULL, created @BIG@ NOT NULL, UNIQUE (org_id, name));
CREATE TABLE IF NOT EXISTS factories (id @PK@, name TEXT NOT NULL UNIQUE, oem_id @BIG@ NOT NULL REFERENCES orgs(id), odm_id @BIG@ NOT NULL REFERENCES orgs(id), created @BIG@ NOT NULL, last_contact @BIG@ NOT NULL DEFAULT 0, rec_next @BIG@ NOT NULL DEFAULT 1, rec_hash TEXT NOT NULL DEFAULT '', writ_seq_seen @BIG@ NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (id @PK@, user_id @BIG@ REFERENCES users(id), factory_id @BIG@ REFERENCES factories(id), label TEXT NOT NULL, hash @BLOB@ NOT NULL UNIQUE, created @BIG@ NOT NULL, revoked @BIG@);
CREATE TABLE IF NOT EXISTS org_keys (org_id @BIG@ PRIMARY KEY REFERENCES orgs(id), writ_pub @BLOB@ NOT NULL, paa_pub @BLOB@ NOT NULL, paa_der @BLOB@ NOT NULL, debug_pub @BLOB@ NOT NULL, sb_pub @BLOB@ NOT NULL);
CREATE TABLE IF NOT EXISTS products (id @PK@, name TEXT NOT NULL UNIQUE, title TEXT NOT NULL, oem_id @BIG@ NOT NULL REFERENCES orgs(id), vid @BIG@ NOT NULL, pid @BIG@ NOT NULL, quota @BIG@ NOT NULL, allocated @BIG@ NOT NULL DEFAULT 0, produced @BIG@ NOT NULL DEFAULT 0, next_serial @BIG@ NOT NULL DEFAULT 1, pai_mode TEXT NOT NULL, sb_pub @BLOB@, created @BIG@ NOT NULL, CHECK (allocated >= 0 AND allocated <= quota));
CREATE TABLE IF NOT EXISTS invites (product_id @BIG@ NOT NULL REFERENCES products(id), odm_id @BIG@ NOT NULL REFERENCES orgs(id), created @BIG@ NOT NULL, PRIMARY KEY (product_id, odm_id));
CREATE TABLE IF NOT EXISTS firmware (product_id @BIG@ NOT NULL REFERENCES products(id), sha256 @BLOB@ NOT NULL, fw_version @BIG@ NOT NULL, size @BIG@ NOT NULL, signature @BLOB@ NOT NULL, image @BLOB@ NOT NULL, created @BIG@ NOT NULL, PRIMARY KEY (product_id, sha256));
CREATE TABLE IF NOT EXISTS versions (id @PK@, product_id @BIG@ NOT NULL REFERENCES products(id), name TEXT NOT NULL, digest @BLOB@ NOT NULL UNIQUE, firmware_sha256 @BLOB@ NOT NULL, fw_version @BIG@ NOT NULL, bundle @BLOB@ NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', created_by TEXT NOT NULL, created @BIG@ NOT NULL, decided_by TEXT NOT NULL DEFAULT '', decided @BIG@ NOT NULL DEFAULT 0, UNIQUE (product_id, name));
CREATE TABLE IF NOT EXISTS codes (hash @BLOB@ PRIMARY KEY, factory_id @BIG@ NOT NULL REFERENCES factories(id), expires @BIG@ NOT NULL, used @BIG@);
CREATE TABLE IF NOT EXISTS hsms (id @PK@, hsm_id @BLOB@ NOT NULL UNIQUE, factory_id @BIG@ NOT NULL REFERENCES factories(id), identity_pub @BLOB@ NOT NULL, kex_pub @BLOB@ NOT NULL, pai_pub @BLOB@ NOT NULL, pai_csr @BLOB@ NOT NULL, enrolled @BIG@ NOT NULL, next_seq @BIG@ NOT NULL DEFAULT 0, head @BLOB@ NOT NULL, last_contact @BIG@ NOT NULL DEFAULT 0, halted TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS pais (product_id @BIG@ NOT NULL REFERENCES products(id), hsm_pk @BIG@ NOT NULL REFERENCES hsms(id), der @BLOB@ NOT NULL, PRIMARY KEY (product_id, hsm_pk));
CREATE TABLE IF NOT EXISTS batches (id @PK@, writ_id @BLOB@ NOT NULL UNIQUE, product_id @BIG@ NOT NULL REFERENCES products(id), version_id @BIG@ NOT NULL REFERENCES versions(id), factory_id @BIG@ NOT NULL REFERENCES factories(id), hsm_pk @BIG@ NOT NULL REFERENCES hsms(id), org_id @BIG@ NOT NULL REFERENCES orgs(id), created_by TEXT NOT NULL, quantity @BIG@ NOT NULL, serial_first @BIG@ NOT NULL, serial_last @BIG@ NOT NULL, not_before @BIG@ NOT NULL, not_after @BIG@ NOT NULL, dac_days @BIG@ NOT NULL, state TEXT NOT NULL, produced @BIG@ NOT NULL DEFAULT 0, reissued @BIG@ NOT NULL DEFAULT 0, revocation_id @BLOB@, final_count @BIG@, created @BIG@ NOT NULL, CHECK (produced <= quantity));
CREATE TABLE IF NOT EXISTS writs (seq @PK@, writ_id @BLOB@ NOT NULL UNIQUE, factory_id @BIG@ NOT NULL REFERENCES factories(id), hsm_pk @BIG@ NOT NULL REFERENCES hsms(id), kind @BIG@ NOT NULL, batch_id @BIG@ NOT NULL REFERENCES batches(id), version_digest @BLOB@ NOT NULL, sealed @BLOB@ NOT NULL, created @BIG@ NOT NULL);
CREATE TABLE IF NOT EXISTS journal (hsm_pk @BIG@ NOT NULL REFERENCES hsms(id), seq @BIG@ NOT NULL, hash @BLOB@ NOT NULL, type @BIG@ NOT NULL, time @BIG@ NOT NULL, entry @BLOB@ NOT NULL, PRIMARY KEY (hsm_pk, seq));
CREATE TABLE IF NOT EXISTS devices (id @PK@, hsm_pk @BIG@ NOT NULL REFERENCES hsms(id), hsm_seq @BIG@ NOT NULL, batch_id @BIG@ NOT NULL REFERENCES batches(id), product_id @BIG@ NOT NULL REFERENCES products(id), kind TEXT NOT NULL, idx @BIG@ NOT NULL, uid @BLOB@ NOT NULL, serial @BIG@ NOT NULL, dac_serial @BLOB@ NOT NULL, dac_sha256 @BLOB@ NOT NULL, time @BIG@ NOT NULL, record_seq @BIG@, record TEXT, UNIQUE (hsm_pk, hsm_seq));
CREATE INDEX IF NOT EXISTS devices_batch ON devices (batch_id, id);
CREATE INDEX IF NOT EXISTS devices_product ON devices (product_id, id);
CREATE INDEX IF NOT EXISTS devices_serial ON devices (serial);
CREATE INDEX IF NOT EXISTS devices_uid ON devices (uid);
CREATE INDEX IF NOT EXISTS devices_dac_serial ON devices (dac_serial);
CREATE TABLE IF NOT EXISTS frecords (factory_id @BIG@ NOT NULL REFERENCES factories(id), seq @BIG@ NOT NULL, hash TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (factory_id, seq));
CREATE TABLE IF NOT EXISTS alerts (id @PK@, time @BIG@ NOT NULL, org_id @BIG@ NOT NULL, factory_id @BIG@ NOT NULL DEFAULT 0, hsm_pk @BIG@ NOT NULL DEFAULT 0, kind TEXT NOT NULL, detail TEXT NOT NULL);


-- a store in use: an OEM, an ODM, a factory with one HSM, a product, a version, a batch
-- and its writ at feed position 7, a user token (wc_uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu) and a factory token (wc_fffffffffffffffffffffffffffffffffffffffffff)
INSERT INTO meta (k, v) VALUES ('schema', '1');
INSERT INTO orgs (id, name, kind, created) VALUES (1, 'acme', 'oem', 1), (2, 'foxy', 'odm', 1);
INSERT INTO users (id, org_id, name, role, created) VALUES (1, 1, 'alice', 'oem-admin', 1);
INSERT INTO factories (id, name, oem_id, odm_id, created) VALUES (1, 'foxy-sz1', 1, 2, 1);
INSERT INTO tokens (id, user_id, factory_id, label, hash, created) VALUES (1, 1, NULL, 'first', @HEX(a88d93afe02e7470b3688b58c95694b8f9fd298072b82ff8fc9ffbcf43121e9b)@, 1),
 (2, NULL, 1, 'factory', @HEX(1793114625ac254a9288a4af649349699af194c3f34aef8d393630bb67c0bc0c)@, 1);
INSERT INTO products (id, name, title, oem_id, vid, pid, quota, allocated, pai_mode, created)
 VALUES (1, 'lamp', 'Lamp', 1, 65521, 32768, 100, 5, 'portal', 1);
INSERT INTO versions (id, product_id, name, digest, firmware_sha256, fw_version, bundle, state, created_by, created)
 VALUES (1, 1, '1.0.0', @HEX(1111111111111111111111111111111111111111111111111111111111111111)@, @HEX(2222222222222222222222222222222222222222222222222222222222222222)@, 3, @HEX(00)@, 'approved', 'bob', 1);
INSERT INTO hsms (id, hsm_id, factory_id, identity_pub, kex_pub, pai_pub, pai_csr, enrolled, head)
 VALUES (1, @HEX(3333333333333333333333333333333333333333333333333333333333333333)@, 1, @HEX(0404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404)@, @HEX(0404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404)@, @HEX(0404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404040404)@, @HEX(00)@, 1, @HEX(0000000000000000000000000000000000000000000000000000000000000000)@);
INSERT INTO batches (id, writ_id, product_id, version_id, factory_id, hsm_pk, org_id, created_by, quantity,
 serial_first, serial_last, not_before, not_after, dac_days, state, created)
 VALUES (1, @HEX(44444444444444444444444444444444)@, 1, 1, 1, 1, 2, 'bob', 5, 1, 5, 0, 4000000000, 0, 'active', 1);
INSERT INTO writs (seq, writ_id, factory_id, hsm_pk, kind, batch_id, version_digest, sealed, created)
 VALUES (7, @HEX(44444444444444444444444444444444)@, 1, 1, 1, 1, @HEX(1111111111111111111111111111111111111111111111111111111111111111)@, @HEX(c0ffee)@, 1);
