#!/usr/bin/perl

# What a broken or hostile upstream sends never reaches the client in a
# shape nginx would not send itself: statuses CI never answers (no body by
# definition, redirects, numbers outside HTTP's classes) are a clean 502 on
# a connection that stays usable; the status line is nginx's; an
# x-ci-request-id that is not a token is dropped; a subrequest makes no
# signed request; what a worker holds of answers is bounded, for requests
# that waited for the cache lock too.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Socket::INET;
use Test::More;

my $t = CiJobsTest->new(http => <<'EOF');
    ci_jobs_max_held_size 8k;
    ci_jobs_cache_zone held:1m;

    server {
        listen 127.0.0.1:%%PORT%%;

        %%CREDENTIALS%%
        ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;

        location /ci/ {
            ci_jobs on;
        }

        location /waited/ {
            ci_jobs on;
            ci_jobs_cache held;
            ci_jobs_cache_lock_timeout 1s;
        }

        location /big/ {
            ci_jobs on;
            ci_jobs_max_body_size 8m;
        }

        location /page {
            ssi on;
            default_type text/html;
            return 200 '<p><!--# include virtual="/ci/jobs/jobsSuccess1" --></p>';
        }

        location /mirrored/ {
            mirror /ci/jobs/jobsSuccess2;
            return 200 'mirrored';
        }

        location = /status {
            ci_jobs_status;
        }
    }
EOF

# statuses CI does not answer with: a 502, and the connection goes on
for my $status (204, 205, 304, 302, 999) {
    my ($bad, $next) = $t->get_keepalive([ "/ci/jobs/faultstatus$status",
                                           '/ci/jobs/jobsSuccess1' ]);
    is($bad->{status}, 502, "upstream $status: 502");
    is(CiJobsTest::error_code($bad), 'BadGateway',
       "upstream $status: BadGateway in CI's error shape");
    is($next->{status} // 0, 200,
       "upstream $status: the next request on the connection is answered");
    like($next->{body} // '', qr{<JobId>jobsSuccess1</JobId>},
         "upstream $status: with its own answer");
}

like($t->error_log, qr/upstream sent unexpected status 204/,
     'the unexpected status is logged');

# CI's statuses pass, with nginx's own status line
my $r = $t->get('/ci/jobs/faultstatus201');
is($r->{status}, 201, 'a 2xx with a body passes');

$r = $t->get('/ci/jobs/faultreason');
is($r->{status}, 200, 'a hostile reason phrase: the answer passes');
like($r->{raw}, qr{\AHTTP/1\.1 200 OK\r\n}, 'with nginx\'s own status line');
unlike($r->{raw}, qr/script|\x01|\x7f/, 'nothing of the reason phrase');

# x-ci-request-id: a token, or nginx's own $request_id instead
$r = $t->get('/ci/jobs/faultrequestid');
is($r->{status}, 200, 'a hostile x-ci-request-id: the answer passes');
like($r->{headers}{'x-ci-request-id'} // '', qr/\A[0-9a-f]{32}\z/,
     "nginx's request id instead");
unlike($r->{raw}, qr/Set-Cookie|\x01|\x7f/, 'nothing of its value');

$r = $t->get('/ci/jobs/jobsSuccess3');
my ($seen) = grep { $_->{target} eq '/jobs/jobsSuccess3' }
             $t->upstream_requests;
is($r->{headers}{'x-ci-request-id'}, $seen->{request_id},
   'a token request id passes as it is');

# subrequests: refused, nothing signed or sent
$t->forget_upstream_requests;
$r = $t->get('/page');
is($r->{status}, 200, 'SSI: the page is served');
unlike($r->{body}, qr/JobId|jobsSuccess1/, 'SSI: with no job in it');
$r = $t->get('/mirrored/');
is($r->{body}, 'mirrored', 'mirror: the main request is served');
sleep 0.5;
is(scalar($t->upstream_requests), 0,
   'SSI and mirror subrequests made no upstream request');

# ci_jobs_max_held_size: an answer past it is a 502; while the worker holds
# an answer that leaves no room, requests are refused with 503 unsent
$r = $t->get('/big/jobs/faultbig');
is($r->{status}, 502, 'an answer larger than the worker may hold: 502');
like($t->error_log, qr/would pass ci_jobs_max_held_size/,
     'logged as such');

my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
    or die "connect: $!";
print $slow "GET /ci/jobs/faultslowbody2 HTTP/1.1\r\nHost: localhost\r\n"
          . "Connection: close\r\n\r\n";
CiJobsTest::wait_for(sub {
    grep { $_->{target} eq '/jobs/faultslowbody2' } $t->upstream_requests
}, 5);
sleep 0.3;

$t->forget_upstream_requests;
$r = $t->get('/ci/jobs/jobsSuccess4');
is($r->{status}, 503, 'a request while the worker is full: 503');
is(CiJobsTest::error_code($r), 'ServiceUnavailable',
   'ServiceUnavailable in CI\'s error shape');
is(scalar(grep { $_->{target} eq '/jobs/jobsSuccess4' }
          $t->upstream_requests), 0, 'nothing sent upstream for it');
like($t->get('/status')->{body},
     qr/^ci_jobs_refusals_total\{code="ServiceUnavailable"\} 1$/m,
     'counted in ci_jobs_refusals_total');

my $slow_answer = CiJobsTest::parse_response(do { local $/; <$slow> } // '');
close $slow;
is($slow_answer->{status}, 200, 'the held answer is served whole');

$r = $t->get('/ci/jobs/jobsSuccess4');
is($r->{status}, 200, 'once it is gone, requests are served again');

# and so is a request that waited for another's answer: that one fills the
# worker, and its cache lock (1s) ends while its answer is still held
$t->forget_upstream_requests;
$slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
    or die "connect: $!";
print $slow "GET /waited/jobs/faultslowbody2 HTTP/1.1\r\nHost: localhost\r\n"
          . "Connection: close\r\n\r\n";
CiJobsTest::wait_for(sub {
    grep { $_->{target} eq '/jobs/faultslowbody2' } $t->upstream_requests
}, 5);
sleep 0.3;

$r = $t->get('/waited/jobs/faultslowbody2');
is($r->{status}, 503, 'a request that waited while the worker is full: 503');
is(CiJobsTest::error_code($r), 'ServiceUnavailable',
   'ServiceUnavailable, as for a request that did not wait');
is(scalar(grep { $_->{target} eq '/jobs/faultslowbody2' }
          $t->upstream_requests), 1, 'nothing sent upstream for it');
like($t->get('/status')->{body},
     qr/^ci_jobs_refusals_total\{code="ServiceUnavailable"\} 2$/m,
     'counted in ci_jobs_refusals_total');

$slow_answer = CiJobsTest::parse_response(do { local $/; <$slow> } // '');
close $slow;
is($slow_answer->{status}, 200, 'the answer waited for is served whole');

$t->done;
done_testing;
