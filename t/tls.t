#!/usr/bin/perl

# TLS to upstream is verified by default, against the bucket's host name,
# whatever address is dialled: an untrusted or wrong-name certificate is a
# 502, a certificate from ci_jobs_ssl_trusted_certificate works, and
# ci_jobs_ssl_verify off turns the check off.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Test::More;

my $t = CiJobsTest->new(
    emulators => {
        good => { tls => 'good' },
        wrong => { tls => 'wrong' },
        untrusted => { tls => 'untrusted' },
    },
    http => <<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;

        ci_jobs_ssl_trusted_certificate %%CA%%;
        %%CREDENTIALS%%

        location /good/ {
            ci_jobs on;
            ci_jobs_pass https://127.0.0.1:%%EMU_good%%;
        }

        location /wrong/ {
            ci_jobs on;
            ci_jobs_pass https://127.0.0.1:%%EMU_wrong%%;
        }

        location /untrusted/ {
            ci_jobs on;
            ci_jobs_pass https://127.0.0.1:%%EMU_untrusted%%;
        }

        location /system-ca/ {
            ci_jobs on;
            ci_jobs_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
            ci_jobs_pass https://127.0.0.1:%%EMU_good%%;
        }

        location /noverify/ {
            ci_jobs on;
            ci_jobs_ssl_verify off;
            ci_jobs_pass https://127.0.0.1:%%EMU_untrusted%%;
        }

        location /plain-to-tls/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_good%%;
        }
    }
EOF

my $id = 'jobsSuccess1';

my $r = $t->get("/good/jobs/$id");
is($r->{status}, 200, 'trusted CA, right name: 200');
like($r->{body}, qr{<JobId>$id</JobId>}, 'trusted CA, right name: the job');
my ($seen) = $t->upstream_requests('good');
is($seen->{signature}, 'ok', 'over TLS: signed');

for my $case ([ wrong => 'a certificate for another name' ],
              [ untrusted => 'a self-signed certificate' ],
              [ 'system-ca' => 'a CA that is not trusted' ]) {
    my ($loc, $what) = @$case;
    $r = $t->get("/$loc/jobs/$id");
    is($r->{status}, 502, "$what: 502");
    is(CiJobsTest::error_code($r), 'BadGateway', "$what: BadGateway");
}

is(scalar(() = $t->upstream_requests('wrong')), 0,
   'nothing sent over an unverified connection');
is(scalar(() = $t->upstream_requests('untrusted')), 0,
   'nothing sent to an untrusted server');

like($t->error_log, qr/upstream SSL certificate does not match/,
     'the name mismatch is logged');
like($t->error_log, qr/upstream SSL certificate verify error/,
     'the verify error is logged');

$r = $t->get("/noverify/jobs/$id");
is($r->{status}, 200, 'ci_jobs_ssl_verify off: 200');

$r = $t->get("/plain-to-tls/jobs/$id");
is($r->{status}, 502, 'plain HTTP to a TLS port: 502');

$r = $t->get("/good/jobs/$id");
is($r->{status}, 200, 'still serving after the failures');

$t->done;
done_testing;
