#!/usr/bin/perl

# Role credentials under load: the metadata service rotates them every 8
# seconds (each valid 16), CI accepts only those still valid with their
# own token; two workers serve continuous requests through more than
# three rotations, every answer is 200, the service is asked once per
# rotation (not once per worker), and no temporary key or token shows in
# the logs at debug level.
#
# The module fetches when a third of the time the keys had left when they
# came remains, looking once a second with a clock in whole seconds: keys
# valid 16 s leave it 3 to 5 s, so an answer a second or two late on a
# busy machine still lands before the old keys expire.  Keys valid 8 s
# left 1 to 2 s: one answer landing a second late made that 1 s for good,
# and the next late one let the keys expire first (requests refused 503
# until the answer came).  A fetch every 8 s or so: 32 s of load see at
# least three.

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
    metadata => { period => 8, lifetime => 16 },
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
my $seconds = 32;
my $clients = 4;
my @kids;

for my $c (1 .. $clients) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my ($n, $bad, $why) = (0, 0, '');
        while (time < $start + $seconds) {
            my $sent = time;
            my $r = $t->get(($c % 2 ? '/a/' : '/b/') . 'jobs/jobsSuccess1');
            $n++;
            next if $r->{status} == 200;
            $bad++;
            (my $body = substr $r->{body}, 0, 200) =~ s/\s+/ /g;
            $why .= sprintf "%.3f+%.3f %s %s\n", $sent - $start,
                            time - $sent, $r->{status}, $body;
        }
        open my $fh, '>', $t->dir . "/client.$c" or die;
        print $fh "$n $bad\n$why";
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid $_, 0 for @kids;

my ($requests, $bad, $why) = (0, 0, '');
for my $c (1 .. $clients) {
    my ($counts, $w) = split /\n/, CiJobsTest::slurp($t->dir . "/client.$c"),
                             2;
    my ($n, $b) = split ' ', $counts;
    $requests += $n;
    $bad += $b;
    $why .= $w // '';
}

ok($requests > 100, "requests kept coming for ${seconds}s ($requests)");
is($bad, 0, 'every answer 200, through the rotations')
    or diag("the others (s since start + s taken, status, body):\n$why");

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
