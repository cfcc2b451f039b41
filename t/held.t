#!/usr/bin/perl

# Clients that ask and never read: HTTP/2 connections whose streams have a
# window of zero (t/lib/h2_hold.js) keep every answer they asked for in
# the worker until send_timeout.  Each connection holds at most
# ci_jobs_max_held_per_connection, its further requests refused with 503
# SlowDown, while other clients are served; and a worker holds at most
# ci_jobs_max_held_size, copies of cached answers and their JSON renderings
# included, which its RSS shows.  Two workers.

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
CiJobsTest::require_prerequisite(-r "/proc/$$/status", 'no /proc');

my ($listen, $http2) = CiJobsTest::nginx_at_least('1.25.1')
                       ? ('', 'http2 on;') : (' http2', '');

# the worker's bound small, so that without the connection's the six
# would leave nothing for others
my $conf = <<"EOF";
    ci_jobs_max_held_size %%HELD%%;
    ci_jobs_cache_zone big:32m;

    server {
        listen 127.0.0.1:%%PORT%%$listen;
        $http2
        send_timeout 60s;
        add_header X-Cache \$ci_jobs_cache_status always;
        %%CREDENTIALS%%
        ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;

        location /ci/ {
            ci_jobs on;
            ci_jobs_max_held_per_connection %%PER_CONNECTION%%;
        }

        location /cached/ {
            ci_jobs on;
            ci_jobs_json on;
            ci_jobs_max_body_size 16m;
            ci_jobs_max_held_per_connection 1024m;
            ci_jobs_cache big;
            ci_jobs_cache_valid_pending 600s;
        }

        location = /status {
            ci_jobs_status;
        }
    }
EOF

sub nginx {
    my ($held, $per_connection) = @_;
    (my $http = $conf) =~ s/%%HELD%%/$held/;
    $http =~ s/%%PER_CONNECTION%%/$per_connection/;
    return CiJobsTest->new(workers => 2, http => $http);
}

my $t = nginx('512k', $ENV{TEST_HELD_PER_CONNECTION} // '32k');

# COUNT zero-window streams for PATH on one connection, held until release
sub hold {
    my ($path, $count) = @_;
    my $pid = open2(my $out, my $in, $node,
                    "$CiJobsTest::ROOT/t/lib/h2_hold.js",
                    'http://127.0.0.1:' . $t->port, $path, $count);
    return { pid => $pid, out => $out, in => $in };
}

# a client that reads: PATHS as streams of one connection, then FINAL on it
sub h2get {
    my ($final, @paths) = @_;
    my $pid = open2(my $out, my $in, $node,
                    "$CiJobsTest::ROOT/t/lib/h2_client.js",
                    'http://127.0.0.1:' . $t->port, $final);
    print $in encode_json([ map { { path => $_ } } @paths ]);
    close $in;
    my $json = do { local $/; <$out> };
    waitpid $pid, 0;
    my $r = decode_json($json || '{}');
    return (@{ $r->{answers} || [] }, $r->{final});
}

sub report {
    my ($h) = @_;
    my $line = readline $h->{out};
    return decode_json($line || '{}');
}

sub release {
    for my $h (@_) {
        close $h->{in};
        waitpid $h->{pid}, 0;
    }
}

sub rss_kb {
    my ($pid) = @_;
    my ($kb) = CiJobsTest::slurp("/proc/$pid/status") =~ /^VmRSS:\s+(\d+)/m;
    return $kb // 0;
}

# --- one connection holds at most ci_jobs_max_held_per_connection ---------

my @holders = map { hold('/ci/jobs/jobsSuccess1', 100) } 1 .. 6;
my @reports = map { report($_) } @holders;

my @normal = h2get('/status', map { "/ci/jobs/jobsSuccess$_" } 1 .. 20);
my $status = pop @normal;
is(scalar(grep { $_->{status} == 200 } @normal), 20,
   'a normal client: 20 requests, all 200, while 6 connections hold');

for my $i (0 .. $#reports) {
    my $s = $reports[$i]{statuses} || {};
    my $ok = $s->{200} // 0;
    my $slow = $s->{503} // 0;
    ok($ok >= 1 && $ok <= 8, "connection $i: a few streams answered ($ok)")
        or diag(encode_json($reports[$i]));
    is($ok + $slow, 100, "connection $i: the others 503 ($slow)");
    is($reports[$i]{retry_after}, $slow, "connection $i: with Retry-After");
}

my ($refused) = $status->{body}
                =~ /^ci_jobs_refusals_total\{code="SlowDown"\} (\d+)$/m;
my $slow_all = 0;
$slow_all += $_->{statuses}{503} // 0 for @reports;
is($refused, $slow_all, 'SlowDown counted in ci_jobs_refusals_total');
like($t->error_log, qr/would pass ci_jobs_max_held_per_connection 32768/,
     'logged at info');

release(@holders);

my ($r) = h2get('/ci/jobs/jobsSuccess1');
is($r->{status}, 200, 'once they are gone, the same answer is served');
note('an answer of ' . length($r->{body}) . ' bytes');

$t->done;
$t = nginx('24m', '8m');

# --- a worker's RSS: cached answers as JSON, not read ---------------------

my $huge = '/cached/jobs?queueId=faulthuge&tag=Transcode';
($r) = h2get($huge);
is($r->{status}, 200, 'a huge list page');
cmp_ok(length $r->{body}, '>', 4 * 1024 * 1024, 'of more than 4 MB');
note('a list page of ' . length($r->{body}) . ' bytes in JSON');
($r) = h2get($huge);
is($r->{headers}{'x-cache'} // '', 'HIT', 'cached');

my @workers = $t->worker_pids;
is(scalar @workers, 2, 'two workers');
my %before = map { $_ => rss_kb($_) } @workers;

@holders = map { hold($huge, 100) } 1 .. 4;
@reports = map { report($_) } @holders;

my %after = map { $_ => rss_kb($_) } @workers;
my ($grown) = sort { $b <=> $a } map { $after{$_} - $before{$_} } @workers;

# AddressSanitizer keeps freed memory resident a while (its quarantine):
# the copies the renderings replaced, among others
my $asan = $ENV{TEST_NGINX_ASAN} ? 2 : 1;

cmp_ok($grown, '<=', $asan * (24 + 48) * 1024,
       "a worker's RSS grew by $grown KB, no more than "
       . 'ci_jobs_max_held_size + 48 MiB' . ($asan > 1 ? ', twice' : ''));
diag('RSS growth (KB): '
     . join(', ', map { $after{$_} - $before{$_} } @workers));

my ($ok, $busy) = (0, 0);
for (@reports) {
    $ok += $_->{statuses}{200} // 0;
    $busy += $_->{statuses}{503} // 0;
}
cmp_ok($ok, '>=', 2, "some streams answered ($ok)");
is($ok + $busy, 400, "the others 503 ($busy)");

release(@holders);

($r) = h2get($huge);
is($r->{status}, 200, 'once they are gone, the answer is served again');

$t->done;
done_testing;
