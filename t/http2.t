#!/usr/bin/perl

# Browsers speak HTTP/2: many requests as streams of one connection.  A
# crowd of streams polling one job (one upstream request, the rest
# collapsed), answers and refusals side by side, a request body refused
# without harm to the connection, streams cancelled while they wait for
# another's answer, the waiting one and the one holding the lock, and
# Server-Sent Events (ci_jobs_watch) as streams, two on one connection.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IPC::Open2;
use JSON::PP;
use Test::More;

my $node = (grep { -x } qw(/usr/bin/node /usr/bin/nodejs))[0];
CiJobsTest::require_prerequisite($node, 'no node (make deps installs it)');
CiJobsTest::require_prerequisite(
    `$CiJobsTest::NGINX -V 2>&1` =~ /--with-http_v2_module/,
    'nginx built without HTTP/2');

# "listen ... http2" is deprecated since 1.25.1 for "http2 on"
my ($listen, $http2) = CiJobsTest::nginx_at_least('1.25.1')
                       ? ('', 'http2 on;') : (' http2', '');

my $t = CiJobsTest->new(http => <<"EOF");
    ci_jobs_cache_zone ci_jobs:1m;

    server {
        listen 127.0.0.1:%%PORT%%$listen;
        $http2
        add_header X-Cache \$ci_jobs_cache_status always;
        %%CREDENTIALS%%

        location /ci/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache ci_jobs;
        }

        location /watch/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 1s;
        }

        location /json/ {
            ci_jobs on;
            ci_jobs_json on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

# the requests as streams of one connection, then FINAL on it
sub streams {
    my ($final, @requests) = @_;
    my $pid = open2(my $out, my $in, $node,
                    "$CiJobsTest::ROOT/t/lib/h2_client.js",
                    'http://127.0.0.1:' . $t->port, $final);
    print $in encode_json(\@requests);
    close $in;
    my $json = do { local $/; <$out> };
    waitpid $pid, 0;
    return decode_json($json || '{}');
}

sub upstream_count { scalar(() = $t->upstream_requests) }

sub statuses { [ map { $_->{status} } @_ ] }

# --- a crowd of streams ------------------------------------------------------

$t->forget_upstream_requests;
my $r = streams('/ci/jobs/faultslowms300',
                map { { path => '/ci/jobs/faultslowms300' } } 1 .. 40);
my @a = @{ $r->{answers} || [] };
is(scalar(grep { $_->{status} == 200 } @a), 40,
   '40 streams, one job: all 200');
is(scalar(grep { $_->{body} eq $a[0]{body} } @a), 40, 'the same body');
like($a[0]{body}, qr{<JobId>faultslowms300</JobId>}, 'the job asked for');
is(upstream_count(), 1, 'one upstream request');
my %by;
$by{ $_->{headers}{'x-cache'} // '' }++ for @a;
is($by{MISS}, 1, 'one MISS');
is(($by{COLLAPSED} // 0) + ($by{HIT} // 0), 39, 'the rest COLLAPSED or HIT')
    or diag explain \%by;
is($r->{final}{status}, 200, 'then the same connection: 200');
is($r->{final}{headers}{'x-cache'}, 'HIT', 'from the cache');

# --- answers and refusals side by side --------------------------------------

$r = streams('/ci/jobs/jobsSuccess1',
             { path => '/json/jobs/jobsSuccess1' },
             { path => '/ci/jobs/jobsSuccess2,jobsFailed3' },
             { path => '/ci/jobs/bad!id' },
             { path => '/ci/nosuch/x' },
             { path => '/ci/jobs/jobsSuccess4', method => 'POST',
               body => 'x' x 70000 });
@a = @{ $r->{answers} || [] };
is_deeply(statuses(@a), [ 200, 200, 400, 404, 405 ],
          'JSON, two ids, a bad id, no such API, a POST');
like($a[0]{headers}{'content-type'}, qr{^application/json}, 'JSON: its type');
is(eval { decode_json($a[0]{body})->{Response}{JobsDetail}[0]{JobId} },
   'jobsSuccess1', 'JSON: the job');
like($a[1]{body}, qr{<JobId>jobsSuccess2</JobId>.*<JobId>jobsFailed3</JobId>}s,
     'two ids: both jobs');
is(CiJobsTest::error_code({ body => $a[2]{body} }), 'InvalidArgument',
   'a bad id: CI error shape');
is(CiJobsTest::error_code({ body => $a[3]{body} }), 'NoSuchApi',
   'no such API: CI error shape');
is(CiJobsTest::error_code({ body => $a[4]{body} }), 'MethodNotAllowed',
   'a POST with a body: CI error shape');
is($a[4]{headers}{allow}, 'GET', 'a POST: Allow: GET');
is($r->{final}{status}, 200, 'after a refused body: the connection serves');

# --- streams cancelled while they wait -------------------------------------

$t->forget_upstream_requests;
$r = streams('/ci/jobs/faultslowms400',
             { path => '/ci/jobs/faultslowms400' },
             map { { path => '/ci/jobs/faultslowms400',
                     $_ <= 2 ? (reset_ms => 100) : () } } 1 .. 5);
@a = @{ $r->{answers} || [] };
is_deeply(statuses(@a), [ 200, 0, 0, 200, 200, 200 ],
          'two waiting streams cancelled: the other four 200');
is(upstream_count(), 1, 'waiters cancelled: one upstream request');
is($r->{final}{headers}{'x-cache'}, 'HIT', 'and the answer stored');

# the stream holding the lock cancelled: the waiters go upstream themselves
$t->forget_upstream_requests;
$r = streams('/ci/jobs/jobsSuccess5',
             { path => '/ci/jobs/faultslowms401', reset_ms => 100 },
             map { { path => '/ci/jobs/faultslowms401' } } 1 .. 3);
@a = @{ $r->{answers} || [] };
is_deeply(statuses(@a), [ 0, 200, 200, 200 ],
          'the holder cancelled: the three waiters 200');
like($a[1]{body}, qr{<JobId>faultslowms401</JobId>}, 'with the job');
cmp_ok(upstream_count(), '>=', 2, 'the waiters asked upstream again');
is($r->{final}{status}, 200, 'the connection serves on');

# --- Server-Sent Events ------------------------------------------------------

# the events of a stream's body: [ [ event, data ] ... ]
sub events {
    my ($body) = @_;
    my @events;
    for my $block (split /\n\n/, $body) {
        my %e = map { /^(\w+): ?(.*)/ ? ($1 => $2) : () } split /\n/, $block;
        push @events, [ $e{event}, $e{data} ] if $e{event};
    }
    return @events;
}

sub states {
    return join ' ', map { $_->[0] eq 'job'
                           ? decode_json($_->[1])->{State} : $_->[0] }
                     events($_[0]{body});
}

my @SSE = (headers => { accept => 'text/event-stream' });

$r = streams('/ci/jobs/jobsSuccess1',
             { path => '/watch/jobs/timed4x20', @SSE });
@a = @{ $r->{answers} || [] };
is($a[0]{status}, 200, 'an event stream over HTTP/2: 200');
like($a[0]{headers}{'content-type'}, qr{^text/event-stream},
     'text/event-stream');
is(states($a[0]), 'Submitted Running Success end',
   'the job\'s events as it runs, then end');
cmp_ok($a[0]{took}, '>', 3000, "open while the job ran ($a[0]{took} ms)");
cmp_ok($a[0]{took}, '<', 7000, 'ended once it finished');
is($r->{final}{status}, 200, 'the connection serves on');

$r = streams('/ci/jobs/jobsSuccess1',
             { path => '/watch/jobs/timed6x21', @SSE },
             { path => '/watch/jobs/timed3x22', @SSE },
             { path => '/ci/jobs/jobsSuccess2' });
@a = @{ $r->{answers} || [] };
is_deeply(statuses(@a), [ 200, 200, 200 ],
          'two event streams and a lookup on one connection');
is(states($a[0]), 'Submitted Running Success end', 'the first stream\'s job');
is(states($a[1]), 'Submitted Running Success end', 'the second\'s');
like($a[1]{body}, qr/"JobId":"timed3x22"/, 'each its own job');
cmp_ok($a[2]{took}, '<', 1000, 'the lookup answered at once beside them');
cmp_ok($a[1]{took}, '<', $a[0]{took}, 'the shorter job\'s stream ended '
       . 'first');
is($r->{final}{status}, 200, 'the connection serves on');

# a stream cancelled by the browser (EventSource.close()): nginx goes on
$r = streams('/ci/jobs/jobsSuccess1',
             { path => '/watch/jobs/timed60x23', @SSE, reset_ms => 1500 },
             { path => '/watch/jobs/timed3x24', @SSE });
@a = @{ $r->{answers} || [] };
is(states($a[1]), 'Submitted Running Success end',
   'a stream beside one cancelled: its events and end');
is($r->{final}{status}, 200, 'the connection serves on');

$t->done;
done_testing;
