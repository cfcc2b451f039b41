#!/usr/bin/perl

# The watch behind access control: ci_jobs_access tokens, allow/deny and
# limit_conn decide before a stream or a long-poll opens, in two workers.
# A token for another job is refused in CI's error shape and no stream
# opens; limit_conn counts open streams.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use File::Temp qw(tempfile);
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use Test::More;
use Time::HiRes qw(time sleep);

my $sdk = "$CiJobsTest::ROOT/t/sdk/node_modules";
CiJobsTest::require_prerequisite(-d "$sdk/jsonwebtoken",
                                 'jsonwebtoken missing (make deps)');

my $key = encode_base64url(join '', map { chr int rand 256 } 1 .. 32);

my $t = CiJobsTest->new(workers => 2, start => 0, http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:1m;
    limit_conn_zone $binary_remote_addr zone=streams:1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        %%CREDENTIALS%%

        location /token/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 1s;
            ci_jobs_access token;
            ci_jobs_access_keys %%DIR%%/keys.json;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /denied/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            deny all;
        }

        location /limited/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            limit_conn streams 2;
        }

        location = /status {
            ci_jobs_status;
        }
    }
EOF

my $keys = $t->dir . '/keys.json';
open my $kf, '>', $keys or die "$keys: $!";
print $kf encode_json({ keys => [ { kty => 'oct', kid => 'k1', k => $key } ] });
close $kf;

$t->start_nginx;

# HS256 tokens minted by jsonwebtoken (t/lib/jwt_mint.js)
sub mint {
    my @jobs = @_;
    my ($fh, $file) = tempfile(DIR => $t->dir, SUFFIX => '.json');
    print $fh encode_json([ map {
        { key => $key,
          payload => { ci_jobs => $_, exp => time + 600 },
          options => { algorithm => 'HS256', keyid => 'k1',
                       noTimestamp => JSON::PP::true } }
    } @jobs ]);
    close $fh;
    my @tokens = `node $CiJobsTest::ROOT/t/lib/jwt_mint.js $file`;
    die 'jwt_mint.js failed' if $? || @tokens != @jobs;
    chomp @tokens;
    return @tokens;
}

my ($mine, $other) = mint([ 'timed60x1' ], [ 'jobsSuccess1' ]);

# a stream, or a long-poll, on its own connection
sub ask {
    my ($path, %headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
        or die "connect: $!";
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n"
             . join('', map { "$_: $headers{$_}\r\n" } sort keys %headers)
             . "\r\n";
    return $s;
}

# what each socket received in $secs (or until closed), parsed
sub read_for { return CiJobsTest::read_for(@_) }

sub metric {
    my ($name) = @_;
    my ($v) = $t->get('/status')->{body} =~ /^\Q$name\E (\d+)$/m;
    return $v;
}

my @SSE = (Accept => 'text/event-stream');

# --- tokens ------------------------------------------------------------------

$t->forget_upstream_requests;

my ($r) = read_for(2, ask("/token/jobs/timed60x1?access_token=$other",
                          @SSE));
is($r->{status}, 403, 'a stream with a token for another job: 403');
is(CiJobsTest::error_code($r), 'AccessDenied', 'AccessDenied, CI\'s shape');
unlike($r->{headers}{'content-type'} // '', qr/event-stream/,
       'not a stream');
unlike($r->{body}, qr/^event:/m, 'no event');
ok($r->{closed}, 'answered and closed at once');

($r) = read_for(2, ask('/token/jobs/timed60x1', @SSE,
                       Authorization => "Bearer $other"));
is($r->{status}, 403, 'the same in Authorization: 403');

($r) = read_for(2, ask('/token/jobs/timed60x1', @SSE));
is($r->{status}, 401, 'a stream without a token: 401');
is(CiJobsTest::error_code($r), 'InvalidToken', 'InvalidToken');
is($r->{headers}{'www-authenticate'}, 'Bearer error="invalid_token"',
   'WWW-Authenticate');

is(scalar(() = grep { $_->{target} =~ /timed60x1/ } $t->upstream_requests),
   0, 'nothing of them upstream');
is(metric('ci_jobs_watchers'), 0, 'and no watcher');

my $tag = $t->get("/token/jobs/jobsSuccess1?access_token=$other")
            ->{headers}{etag};
my $start = time;
($r) = read_for(5, ask("/token/jobs/jobsSuccess1?access_token=$mine",
                       'If-None-Match' => $tag, Prefer => 'wait=3'));
is($r->{status}, 403, 'a long-poll with a token for another job: 403');
cmp_ok(time - $start, '<', 1, 'at once, not held');

my $open = ask("/token/jobs/timed60x1?access_token=$mine", @SSE);
($r) = read_for(1.5, $open);
is($r->{status}, 200, 'a token for the job, as access_token: a stream');
like($r->{body}, qr/^event: job$/m, 'with its events');
is(metric('ci_jobs_watchers'), 1, 'one watcher');
close $open;

# --- allow / deny ------------------------------------------------------------

($r) = read_for(2, ask('/denied/jobs/jobsSuccess1', @SSE));
is($r->{status}, 403, 'deny all: a stream gets 403');
is(CiJobsTest::error_code($r), 'AccessDenied', 'in CI\'s shape');
unlike($r->{body}, qr/^event:/m, 'no event');

# --- limit_conn --------------------------------------------------------------

my @streams = map { ask('/limited/jobs/timed60x2', @SSE) } 1 .. 2;
my @first = read_for(1, @streams);
is(scalar(grep { $_->{status} == 200 && !$_->{closed} } @first), 2,
   'limit_conn 2: two streams open');
($r) = read_for(2, ask('/limited/jobs/timed60x2', @SSE));
is($r->{status}, 503, 'a third, while they are: 503');
is(CiJobsTest::error_code($r), 'ServiceUnavailable', 'in CI\'s shape');
unlike($r->{body}, qr/^event:/m, 'no event');

close $streams[0];
sleep 0.5;
my $again = ask('/limited/jobs/timed60x2', @SSE);
($r) = read_for(1, $again);
is($r->{status}, 200, 'one closed: a new stream opens');
close $_ for $again, $streams[1];

$t->done;
done_testing;
