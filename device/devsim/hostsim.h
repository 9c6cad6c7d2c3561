/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stand-in for the host side of provisioning, on OpenSSL 3 and independent of the chip
 * code (which uses Mbed TLS): a throw-away PAI that issues a DAC for the chip's CSR, the
 * ENC_BINDING check, a WFD1 blob, the secret wrap, a secure-boot key signing firmware.
 * The unit tests use it as the independent implementation; writ-devsim uses it for its
 * `provisioned` fault. Every function returns 0 on success and -1 on failure; buffers
 * are the caller's; EVP_PKEY results are the caller's to EVP_PKEY_free.
 */
#ifndef WRIT_DEVICE_HOSTSIM_H
#define WRIT_DEVICE_HOSTSIM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* A new P-256 key; its uncompressed public key into pub65 (may be NULL). */
EVP_PKEY *hs_key_new(uint8_t pub65[65]);
/* Public key object for an uncompressed P-256 point. */
EVP_PKEY *hs_pub_from_raw(const uint8_t pub65[65]);
/* SHA-256. */
int hs_sha256(const void *p, size_t n, uint8_t out[32]);
/* A self-signed CA certificate for key, CN = cn, DER into out[cap]. */
int hs_make_pai(EVP_PKEY *key, const char *cn, uint8_t *out, size_t cap, size_t *ret_len);
/* Check the CSR's proof of possession and CN = the UID in upper-case hex; return its
 * public key (uncompressed) in pub65. */
int hs_check_csr(const uint8_t *csr, size_t n, const uint8_t uid[16], uint8_t pub65[65]);
/* A DAC for csr, issued and signed (ECDSA-SHA256) by the PAI. sign_with overrides the
 * signing key (to make a DAC that does not verify); NULL = pai_key. */
int hs_issue_dac(EVP_PKEY *pai_key, EVP_PKEY *sign_with, const uint8_t *pai, size_t pai_len,
		 const uint8_t *csr, size_t csr_len, uint8_t *out, size_t cap, size_t *ret_len);
/* Verify ENC_BINDING with the attestation public key. 0 = valid. */
int hs_check_binding(const uint8_t att_pub[65], const uint8_t uid[16], const uint8_t enc_pub[65],
		     const uint8_t *sig, size_t sig_len);
/* A valid WFD1 blob holding dac and pai. */
int hs_make_wfd(const uint8_t *dac, size_t dac_len, const uint8_t *pai, size_t pai_len, uint8_t *out, size_t cap,
		size_t *ret_len);
/* WRAPPED for (uid, label, secret) to the chip's key-agreement key. */
int hs_wrap(const uint8_t uid[16], const uint8_t enc_pub[65], const char *label, const uint8_t *secret, size_t n,
	    uint8_t *out, size_t cap, size_t *ret_len);
/* FW_SIGNATURE (r ‖ s) over "writ fw v1" ‖ version ‖ size ‖ image. */
int hs_sign_fw(EVP_PKEY *sb_key, uint32_t version, const uint8_t *image, size_t size, uint8_t sig[64]);

/* ECDSA-SHA256 by key over a ‖ b (bn may be 0), as r ‖ s. */
int hs_sign_p256(EVP_PKEY *key, const uint8_t *a, size_t an, const uint8_t *b, size_t bn, uint8_t sig[64]);
/* Secure debug credentials, byte for byte as docs/device-protocol.md ("Secure debug")
 * defines them: a 209-byte certificate for subject_pub signed by issuer, and a 156-byte
 * token signed by the delegate over SHA-256(token[0..92) ‖ challenge). */
struct hs_dbg_cert_in {
	uint8_t role; /* 1 intermediate, 2 delegate */
	uint16_t vendor_id, product_id;
	uint32_t key_gen;
	uint64_t not_before, not_after;
	uint8_t perms[16];
	uint8_t hsm_id[32];
};
int hs_dbg_cert(EVP_PKEY *issuer, const struct hs_dbg_cert_in *in, const uint8_t subject_pub[65], uint8_t out[209]);
int hs_dbg_token(EVP_PKEY *delegate, const uint8_t uid[16], uint64_t not_before, uint64_t not_after,
		 const uint8_t perms[16], uint32_t session_s, const uint8_t challenge[32], uint8_t out[156]);

#endif
