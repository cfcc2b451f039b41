#!/usr/bin/perl

# Upstream failures become 502 or 504 in CI's error shape, never a
# half-sent answer, never cached, and nginx goes on serving.  The emulator
# misbehaves on demand, chosen by the job id; the jobs it fails to deliver
# are finished ones, which the cache would keep if they arrived whole.
# (A host that does not resolve fails nginx -t: t/config.t.)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Digest::SHA qw(sha1_hex);
use Test::More;

my $dead = CiJobsTest::free_port();

my $t = CiJobsTest->new(
    emulators => { plain => {}, untrusted => { tls => 'untrusted' } },
    http => <<"EOF");
    ci_jobs_cache_zone faults:1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        %%CREDENTIALS%%
        ci_jobs_read_timeout 1s;
        ci_jobs_cache faults;
        add_header X-Cache \$ci_jobs_cache_status always;

        location /ci/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /small/ {
            ci_jobs on;
            ci_jobs_max_body_size 1m;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /large/ {
            ci_jobs on;
            ci_jobs_max_body_size 4m;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /dead/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:$dead;
        }

        location /untrusted/ {
            ci_jobs on;
            ci_jobs_ssl_trusted_certificate %%CA%%;
            ci_jobs_pass https://127.0.0.1:%%EMU_untrusted%%;
        }

        # nginx itself, answering the ClientHello with a plain 400
        location /tls-to-plain/ {
            ci_jobs on;
            ci_jobs_ssl_trusted_certificate %%CA%%;
            ci_jobs_pass https://127.0.0.1:%%PORT%%;
        }
    }
EOF

# [ target, status, code (undef: upstream's own answer), what ]
my @cases = (
    [ '/ci/jobs/faultslow3', 504, 'GatewayTimeout', 'slow answer' ],
    [ '/ci/jobs/faultslowbody3', 504, 'GatewayTimeout', 'slow body' ],
    [ '/ci/jobs/faultreset', 502, 'BadGateway', 'reset' ],
    [ '/ci/jobs/faultresetbody', 502, 'BadGateway', 'reset mid-body' ],
    [ '/ci/jobs/faulttruncated', 502, 'BadGateway', 'truncated' ],
    [ '/ci/jobs/faultmalformed', 502, 'BadGateway', 'malformed XML' ],
    [ '/ci/jobs/faulthuge', 502, 'BadGateway', 'over ci_jobs_max_body_size' ],
    [ '/small/jobs/faultbig', 502, 'BadGateway', 'over a 1m limit' ],
    [ '/ci/jobs/faultbig', 502, 'BadGateway', 'over the 2m default' ],
    [ '/ci/jobs/faultgzip', 200, undef, 'gzip is not asked for' ],
    [ '/ci/jobs/fault500', 500, 'InternalError', 'upstream 500' ],
    [ '/ci/jobs/fault503', 503, 'ServiceUnavailable', 'upstream 503' ],
    [ '/dead/jobs/jobsSuccess1', 502, 'BadGateway', 'connection refused' ],
    [ '/untrusted/jobs/jobsSuccess1', 502, 'BadGateway',
      'TLS: untrusted certificate' ],
    [ '/tls-to-plain/jobs/jobsSuccess1', 502, 'BadGateway',
      'TLS: handshake with a plain HTTP server' ],
    [ '/ci/jobs?queueId=faultmalformed&tag=Translation', 502, 'BadGateway',
      'malformed list' ],
);

for my $case (@cases) {
    my ($target, $status, $code, $what) = @$case;
    my $r = $t->get($target, 'Accept-Encoding' => 'gzip');
    is($r->{status}, $status, "$what: $status") or diag($r->{raw});
    is(CiJobsTest::error_code($r), $code, "$what: $code") if $code;
    is($r->{headers}{'content-length'}, length $r->{body},
       "$what: a whole answer");

    # asked again: the same failure, not an answer from the cache
    my $again = $t->get($target);
    is($again->{status}, $status, "$what: again $status");
    if ($status == 200) {
        is($again->{headers}{'x-cache'}, 'HIT', "$what: a whole answer is kept");
    } else {
        # the list is never cached: its requests bypass the cache
        is($again->{headers}{'x-cache'} // '',
           $target =~ m{/jobs\?} ? 'BYPASS' : 'MISS', "$what: nothing cached");
    }

    my $next = $t->get('/ci/jobs/jobsRunning1');
    is($next->{status}, 200, "$what: the next request is served");
}

# a big answer within the limit, and a chunked one, pass whole
for my $id (qw(faultbig faultchunked)) {
    $t->forget_upstream_requests;
    my $r = $t->get($id eq 'faultbig' ? "/large/jobs/$id" : "/ci/jobs/$id");
    my ($seen) = $t->upstream_requests;
    is($r->{status}, 200, "$id: 200");
    is(sha1_hex($r->{body}), $seen->{response_sha1},
       "$id: byte-identical to upstream's body");
}

like($t->error_log, qr/upstream timed out/, 'the timeout is logged');
like($t->error_log, qr/larger than ci_jobs_max_body_size/,
     'the size limit is logged');
like($t->error_log, qr/malformed body/, 'the malformed body is logged');

$t->done;
done_testing;
