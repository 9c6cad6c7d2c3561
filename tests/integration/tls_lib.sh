# SPDX-License-Identifier: Apache-2.0
# TLS fixtures shared by tls_hops.sh and tls_renew.sh (sourced, not run).

# bad_client_certs FACTORY CADIR: in the current directory, client certificates a portal
# must refuse for FACTORY (GnuTLS certtool), all on one key, leaf.key:
#   other-leaf.pem  from another CA (other-ca.pem, its key other.key in a file: the attacker's)
#   expired.pem     from the portal CA in CADIR (its key in the portal's token, by the URL
#                   in CADIR/ca.key; PIN $WRIT_CLOUD_PIN, module $WRIT_P11_MODULE), expired
#                   in 2020
#   unbound.pem     from the portal CA, valid, but bound to no factory in the portal's store
bad_client_certs()
{
	local factory=$1 cadir=$2 caurl
	cat >tmpl.other <<-EOT
		cn = "evil CA"
		ca
		cert_signing_key
		expiration_days = 30
	EOT
	cat >tmpl.leaf <<-EOT
		cn = "factory:$factory"
		tls_www_client
		signing_key
		expiration_days = 30
	EOT
	cat >tmpl.expired <<-EOT
		cn = "factory:$factory"
		tls_www_client
		signing_key
		activation_date = "2020-01-01 00:00:00 UTC"
		expiration_date = "2020-02-01 00:00:00 UTC"
	EOT
	certtool --generate-privkey --ecc --outfile other.key 2>/dev/null
	certtool --generate-self-signed --load-privkey other.key --template tmpl.other --outfile other-ca.pem 2>/dev/null
	certtool --generate-privkey --ecc --outfile leaf.key 2>/dev/null
	certtool --generate-certificate --load-privkey leaf.key --load-ca-certificate other-ca.pem \
		--load-ca-privkey other.key --template tmpl.leaf --outfile other-leaf.pem 2>/dev/null
	caurl=$(cat "$cadir/ca.key")
	GNUTLS_PIN=$WRIT_CLOUD_PIN certtool --provider "$WRIT_P11_MODULE" --generate-certificate --load-privkey leaf.key \
		--load-ca-certificate "$cadir/ca.pem" --load-ca-privkey "$caurl" --template tmpl.expired \
		--outfile expired.pem 2>/dev/null
	GNUTLS_PIN=$WRIT_CLOUD_PIN certtool --provider "$WRIT_P11_MODULE" --generate-certificate --load-privkey leaf.key \
		--load-ca-certificate "$cadir/ca.pem" --load-ca-privkey "$caurl" --template tmpl.leaf \
		--outfile unbound.pem 2>/dev/null
}
