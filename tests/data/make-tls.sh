#!/bin/sh
# Test certificates for srtmd's tls+tcp listener, into DIR: a CA (ca.pem), srtmd's
# certificate for "localhost" and 127.0.0.1 (srv.pem, srv.key), a verifier's (cli.pem,
# cli.key), and a verifier certificate of another CA (evil.pem, evil.key; its CA in
# other-ca.pem). P-256 keys, mode 0600. Usage: make-tls.sh DIR
set -eu
cd "$1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=srtm test CA"
key other-ca.key
openssl req -x509 -new -key other-ca.key -out other-ca.pem -days 2 -subj "/CN=another CA"
# 127.0.0.1 also as a DNS name: mbedTLS 2.28 (Debian 12's, under nng) matches names only
printf 'subjectAltName=DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1\n' > srv.ext
for c in srv:localhost:ca cli:verifier:ca evil:verifier:other-ca; do
    name=${c%%:*} rest=${c#*:}
    cn=${rest%%:*} ca=${rest#*:}
    key "$name.key"
    openssl req -new -key "$name.key" -out "$name.csr" -subj "/CN=$cn"
    ext=""
    [ "$name" = srv ] && ext="-extfile srv.ext"
    # shellcheck disable=SC2086
    openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
        -out "$name.pem" -days 2 $ext 2>/dev/null
done
