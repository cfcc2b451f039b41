#!/usr/bin/perl

# Requests refused for their keys while the renewal is under way wait for
# it, and no longer than a fetch may take: when the metadata service does
# not answer, the fetch times out and the request gets CI's refusal, in
# CI's error shape; a client that gives up while its request waits ends
# it cleanly (no leak under AddressSanitizer, no alert).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Test::More;

my $t = CiJobsTest->new(
    workers => 2,
    metadata => { period => 3, lifetime => 3600 },
    emulators => { ci => { secrets_file => 1 } },
    start => 0,
    http => <<'EOF');
    ci_jobs_bucket examplebucket-1250000000;
    ci_jobs_region ap-beijing;

    server {
        listen 127.0.0.1:%%PORT%%;

        ci_jobs_pass http://127.0.0.1:%%EMU_ci%%;

        location /role/ {
            ci_jobs on;
            ci_jobs_credentials_role ci-gateway;
            ci_jobs_metadata_url %%META%%;
        }
    }
EOF

my $secrets = $t->dir . '/role.secrets';

$t->metadata_mode('far');
$t->start_nginx;

ok(CiJobsTest::wait_for(sub {
       $t->get('/role/jobs/jobsRunning1')->{status} == 200 }, 10),
   'role credentials: 200');

# CI no longer accepts the role's keys, and the service will not answer
$t->metadata_mode('timeout');
open my $fh, '>', "$secrets.tmp" or die;
close $fh;
rename "$secrets.tmp", $secrets or die;

# a client that gives up while its request waits for the renewal
my $quitter = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
    or die "connect: $!";
print $quitter "GET /role/jobs/jobsRunning2 HTTP/1.1\r\nHost: localhost\r\n"
               . "Connection: close\r\n\r\n";
sleep 0.3;
close $quitter;

# and one that waits with it
my $sent = time;
my $r = $t->get('/role/jobs/jobsRunning3');
my $took = time - $sent;

is($r->{status}, 403, 'the renewal failed: the refusal is passed on');
like($r->{body}, qr{<Code>InvalidAccessKeyId</Code>}, 'in CI\'s error shape');
ok($took > 1.5 && $took < 8,
   sprintf 'after waiting for the fetch to time out (%.1f s)', $took);
like($t->error_log, qr/not fetched \(the answer timed out\)/,
     'the fetch that timed out is logged');

my @sent = grep { ($_->{target} // "") eq "/jobs/jobsRunning3" }
           $t->upstream_requests('ci');
is(scalar @sent, 2, 'the waiting request was sent once more');

# the client that gave up: its request ended without waiting on
ok(CiJobsTest::wait_for(sub {
       CiJobsTest::slurp($t->dir . '/access.log') =~ /jobsRunning2\S* HTTP\/1\.1" 499 / },
       8),
   'the request given up is logged 499');

$t->done;
done_testing;
