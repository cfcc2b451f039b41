#!/usr/bin/perl

# Keys CI refuses as invalid or expired (403 InvalidAccessKeyId) are
# renewed at once, whatever their ExpiredTime says: a credentials file is
# read again (even when its mtime and size did not change) and the refused
# request is tried once more with the new keys; a role whose ExpiredTime is
# 99999999999 is fetched again, once for the two workers, at most once per
# 10 seconds, and the requests refused meanwhile wait for it and are
# answered 200.
# Under steady load, with keys revoked every 12 s while their ExpiredTime
# says an hour, the clients see at most 4 failures per revocation (none,
# as built), and there is no more than one fetch at start and one per
# 10 s.

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

        location /file/ {
            ci_jobs on;
            ci_jobs_credentials_file %%DIR%%/ci.credentials;
        }
    }
EOF

my $secrets = $t->dir . '/role.secrets';
my $prefix = '/latest/meta-data/cam/security-credentials/';

sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', "$path.tmp" or die;
    print $fh $text;
    close $fh;
    rename "$path.tmp", $path or die;
}

sub status_of { $t->get("/$_[0]/jobs/jobsSuccess1")->{status} }

sub role_fetches {
    my ($since) = @_;
    return scalar grep { $_->{path} eq "$prefix$CiJobsTest::ROLE"
                         && $_->{time} >= $since } $t->metadata_requests;
}

# the metadata service's keys, and the file's (no token), accepted by CI
sub accept_keys {
    my (@file_keys) = @_;
    my $role = '';
    if (open my $fh, '<', $secrets) {
        $role = join '', grep { /^AKIDrole/ } <$fh>;
    }
    write_file($secrets, $role . join '', map { "$_->[0]:$_->[1]::"
                                                . (int(time) + 3600) . "\n" }
                                          @file_keys);
}

# CI no longer accepts any of the role's keys
sub revoke_role {
    open my $fh, '<', $secrets or die;
    my @lines = grep { !/^AKIDrole/ } <$fh>;
    close $fh;
    write_file($secrets, join '', @lines);
}

my @a = ('AKIDfileA0000000001', 'filekeyA00000000001');
my @b = ('AKIDfileB0000000001', 'filekeyB00000000001');

write_file($t->dir . '/ci.credentials', "SecretId=$a[0]\nSecretKey=$a[1]\n");
$t->metadata_mode('far');
$t->start_nginx;

ok(CiJobsTest::wait_for(sub { status_of('role') == 200 }, 10),
   'role credentials with ExpiredTime 99999999999: 200');
accept_keys(\@a);
is(status_of('file'), 200, 'the file\'s keys: 200');

# --- a credentials file rotated where its mtime and size do not show it -----

my $file = $t->dir . '/ci.credentials';
my ($mtime) = (stat $file)[9];
write_file($file, "SecretId=$b[0]\nSecretKey=$b[1]\n");
utime $mtime, $mtime, $file;
accept_keys(\@b);
sleep 1.5;

$t->forget_upstream_requests;
is(status_of('file'), 200, 'the old keys refused: the request is still 200');
my @sent = $t->upstream_requests('ci');
is(scalar @sent, 2, 'tried once more');
is($sent[0]{code} // '', 'InvalidAccessKeyId', 'the first refused');
like(join(' ', map { $_->[1] } grep { lc $_->[0] eq 'authorization' }
                   @{ $sent[1]{headers} || [] }),
     qr/q-ak=$b[0]&/, 'the second signed with the file\'s new keys');
like($t->error_log, qr/CI refused the credentials of "[^"]*ci.credentials" as invalid or expired, renewing them/,
     'the renewal is logged');

# --- role keys revoked before their ExpiredTime --------------------------

# a new generation of keys is what the service hands out next
my ($first) = grep { $_->{path} eq "$prefix$CiJobsTest::ROLE" }
              $t->metadata_requests;
sleep 0.2 while time < $first->{time} + 3.5;

revoke_role();
my $revoked = time;

# one client as fast as it can: the requests refused while the one fetch
# is under way wait for it, and none fails
$t->forget_upstream_requests;
my ($failed, $n) = (0, 0);
while (time < $revoked + 1) {
    $n++;
    $failed++ if status_of('role') != 200;
}
is($failed, 0, "revoked keys: none of $n requests in 1 s failed");
my @refused = grep { ($_->{code} // '') eq 'InvalidAccessKeyId' }
              $t->upstream_requests('ci');
ok(@refused >= 1 && @refused <= 2,
   scalar(@refused) . ' refused by CI, then sent again with the new keys');
is(role_fetches($revoked), 1, 'the role fetched once, by one worker');

# again within 10 s: no fetch until 10 s after the last one
my ($renewed) = map { $_->{time} } grep { $_->{path} eq "$prefix$CiJobsTest::ROLE"
                                          && $_->{time} >= $revoked }
                $t->metadata_requests;
revoke_role();
my $again = time;
ok(CiJobsTest::wait_for(sub { status_of('role') == 200 }, 15),
   'revoked again: 200 again');
my $took = time - $renewed;
is(role_fetches($again), 1, 'after one more fetch');
my ($second) = map { $_->{time} } grep { $_->{path} eq "$prefix$CiJobsTest::ROLE"
                                         && $_->{time} >= $again }
               $t->metadata_requests;
# ngx_time()'s whole seconds: 10 s after the second the first was in
ok(defined $second && $second - $renewed >= 8.9,
   sprintf 'not before 10 s after the first (%.1f s)',
           ($second // 0) - $renewed);
diag(sprintf '%.1f s from the first renewal to 200 again', $took);

$t->done;

# --- steady load, keys revoked every 12 s ---------------------------------

my $CLIENTS = 4;
my $REVOKE = 12;

my $l = CiJobsTest->new(
    workers => 2,
    metadata => { period => 3, lifetime => 3600, revoke_every => $REVOKE },
    emulators => { ci => { secrets_file => 1 } },
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

ok(CiJobsTest::wait_for(sub {
       $l->get('/role/jobs/jobsRunning1')->{status} == 200 }, 10),
   'role credentials whose ExpiredTime says an hour: 200');

my @fetches = grep { $_->{path} eq "$prefix$CiJobsTest::ROLE" }
              $l->metadata_requests;
my $start = $fetches[0]{start};
cmp_ok($fetches[0]{revoked} - $fetches[0]{time}, '<', $REVOKE,
       'revoked long before ExpiredTime');

# three revocations, a little load before the first and after the last
my @revocations = map { $start + $REVOKE * $_ } 1 .. 3;
my $from = time;
my $until = $revocations[-1] + 1.5;

my @pids;
for my $c (1 .. $CLIENTS) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $fh, '>', $l->dir . "/load.$c" or die;
        while (time < $until) {
            my $sent = time;
            my $s = $l->get("/role/jobs/jobsRunning$c")->{status};
            printf $fh "%.3f %d %.3f\n", time, $s, time - $sent;
        }
        close $fh;
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;
my $elapsed = time - $from;

# each failure counted for the revocation it follows
my ($total, $slowest, @failed) = (0, 0, (0) x @revocations);
for my $c (1 .. $CLIENTS) {
    open my $fh, '<', $l->dir . "/load.$c" or die;
    while (<$fh>) {
        my ($when, $status, $took) = split;
        $total++;
        $slowest = $took if $took > $slowest;
        next if $status == 200;
        my $i = grep { $_ <= $when } @revocations;
        $failed[$i ? $i - 1 : 0]++;
    }
}

my @all = grep { $_->{path} eq "$prefix$CiJobsTest::ROLE" }
          $l->metadata_requests;
my $span = time - $all[0]{time};
# CI's record read as text: thousands of lines
my $refused = grep { /"code":"InvalidAccessKeyId"/ }
              split /\n/, CiJobsTest::slurp($l->dir . '/emu_ci.jsonl');
my $worst = (sort { $b <=> $a } @failed)[0];
diag(sprintf '%d requests from %.1f to %.1f s after the service started, '
             . 'the slowest %.3f s; failed after each revocation: %s; %d '
             . 'refused by CI; %d role fetches in %.1f s', $total,
     $from - $start, time - $start, $slowest, join('/', @failed), $refused,
     scalar @all, $span);

cmp_ok($worst, '<=', 4,
       sprintf '%d requests in %.1f s by %d clients: %s failed after each '
               . 'revocation (%d refused by CI)', $total, $elapsed, $CLIENTS,
               join('/', @failed), $refused);
cmp_ok(scalar(grep { $_->{time} >= $from } @all), '>=', scalar @revocations,
       'each revocation renewed the keys');
cmp_ok(scalar @all, '<=', 1 + $span / 10,
       sprintf '%d role fetches in %.1f s: one at start, then at most one '
               . 'per 10 s', scalar @all, $span);

$l->done;
done_testing;
