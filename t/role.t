#!/usr/bin/perl

# Role credentials under load: the metadata service rotates them every 4
# seconds (each valid 8), CI accepts only those still valid with their
# own token; two workers serve continuous requests through more than
# three rotations, every answer is 200, the service is asked once per
# rotation (not once per worker), and no temporary key or token shows in
# the logs at debug level.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;

my $t = CiJobsTest->new(
    workers => 2,
    error_log_level => 'debug',
    metadata => { period => 4, lifetime => 8 },
    emulators => { role => { secrets_file => 1 } },
    http => <<'EOF');
    ci_jobs_bucket examplebucket-1250000000;
    ci_jobs_region ap-beijing;

    server {
        listen 127.0.0.1:%%PORT%% reuseport;

        location /a/ {
            ci_jobs on;
            ci_jobs_credentials_role ci-gateway;
            ci_jobs_metadata_url %%META%%;
            ci_jobs_pass http://127.0.0.1:%%EMU_role%%;
        }

        # the same role: the same source, fetched once for both
        location /b/ {
            ci_jobs on;
            ci_jobs_credentials_role ci-gateway;
            ci_jobs_metadata_url %%META%%;
            ci_jobs_pass http://127.0.0.1:%%EMU_role%%;
            ci_jobs_json on;
        }
    }
EOF

ok(CiJobsTest::wait_for(sub {
       $t->get('/a/jobs/jobsSuccess1')->{status} == 200 }, 10),
   'the first credentials are fetched at start');

my $prefix = '/latest/meta-data/cam/security-credentials/';
my $start = time;
my $seconds = 18;
my $clients = 4;
my @kids;

for my $c (1 .. $clients) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my ($n, $bad) = (0, 0);
        while (time < $start + $seconds) {
            my $r = $t->get(($c % 2 ? '/a/' : '/b/') . 'jobs/jobsSuccess1');
            $n++;
            $bad++ unless $r->{status} == 200;
        }
        open my $fh, '>', $t->dir . "/client.$c" or die;
        print $fh "$n $bad\n";
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid $_, 0 for @kids;

my ($requests, $bad) = (0, 0);
for my $c (1 .. $clients) {
    my ($n, $b) = split ' ', CiJobsTest::slurp($t->dir . "/client.$c");
    $requests += $n;
    $bad += $b;
}

ok($requests > 100, "requests kept coming for ${seconds}s ($requests)");
is($bad, 0, 'every answer 200, through the rotations');

my @fetches = grep { $_->{path} eq "$prefix$CiJobsTest::ROLE"
                     && $_->{time} >= $start && $_->{time} < $start + $seconds }
              $t->metadata_requests;
my %per;
$per{ $_->{generation} }++ for @fetches;
my $rotations = keys %per;
ok($rotations >= 3, "at least three rotations fetched ($rotations)");
my @twice = grep { $per{$_} != 1 } sort keys %per;
is(scalar @twice, 0, 'each generation fetched once, by one worker')
    or diag(join ', ', map { "generation $_: $per{$_} fetches" } @twice);
diag(sprintf '%d fetches for %d rotations: %.2f a rotation',
             scalar @fetches, $rotations, @fetches / ($rotations || 1));
is(scalar(grep { $_->{path} eq $prefix } $t->metadata_requests), 0,
   'a named role: the list of roles is not asked for');
is(scalar(grep { ($_->{version} // '') ne '1.0' } $t->metadata_requests), 0,
   'asked in HTTP/1.0');

my %ak = map { /q-ak=(\w+)/ ? ($1 => 1) : () }
         map { $_->[1] } grep { lc $_->[0] eq 'authorization' }
         map { @{ $_->{headers} } } $t->upstream_requests('role');
ok(keys %ak >= 3, 'CI saw the rotated SecretIds in turn (' . keys(%ak) . ')');

my $log = $t->error_log;
like($log, qr/\[debug\]/, 'the error log is at debug');
unlike($log, qr/\[error\]/, 'no error logged');
like($log, qr/role credentials fetched from "http:[^"]+ci-gateway"/,
     'the first fetch is logged, with the URL');

$t->done;
done_testing;
