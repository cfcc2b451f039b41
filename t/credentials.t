#!/usr/bin/perl

# Credentials done right: a credentials file rotated under load without a
# reload, STS tokens from it, a skewed CI clock corrected after one
# refused signature, and no secret in any log, answer or header, even
# with the error log at debug.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use lib "$FindBin::Bin/emulator";
use CosSignature ();
use Digest::SHA qw(hmac_sha1_hex);
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;

my @keys = map { [ sprintf('AKIDrotation%028d', $_),
                   sprintf('rotationsecretkey%017d', $_) ] } 1 .. 5;
my $token = 'sts-token-of-the-file-0001';

my $t = CiJobsTest->new(
    workers => 2,
    error_log_level => 'debug',
    secrets => [ (map { $_->[1] } @keys), $token ],
    emulators => {
        rotating => { secrets => [ map { "$_->[0]:$_->[1]" } @keys ] },
        sts => { secrets => [ "$keys[0][0]:$keys[0][1]" ], token => $token },
        skewed => { clock_offset => 7200 },
    },
    start => 0,
    http => <<'EOF');
    ci_jobs_bucket examplebucket-1250000000;
    ci_jobs_region ap-beijing;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /rotating/ {
            ci_jobs on;
            ci_jobs_credentials_file %%DIR%%/rotating.credentials;
            ci_jobs_pass http://127.0.0.1:%%EMU_rotating%%;
        }

        location /sts/ {
            ci_jobs on;
            ci_jobs_credentials_file %%DIR%%/sts.json;
            ci_jobs_pass http://127.0.0.1:%%EMU_sts%%;
            ci_jobs_json on;
        }

        location /skewed/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_skewed%%;
        }
    }
EOF

# files must exist before nginx starts: write them, then (re)start
sub write_file {
    my ($name, $text, $mode) = @_;
    my $tmp = $t->dir . "/.$name.tmp";
    open my $fh, '>', $tmp or die;
    print $fh $text;
    close $fh;
    chmod $mode // 0600, $tmp;
    rename $tmp, $t->dir . "/$name" or die;     # atomic, as operators should
}

sub lines { "SecretId=$_[0][0]\nSecretKey=$_[0][1]\n" }

write_file('rotating.credentials', lines($keys[0]));
write_file('sts.json', qq({"TmpSecretId":"$keys[0][0]","TmpSecretKey":)
                     . qq("$keys[0][1]","ExpiredTime":4102444800,)
                     . qq("Token":"$token","Code":"Success"}\n));
$t->start_nginx;

# --- rotation under load -------------------------------------------------------

my $pid = fork // die;
if ($pid == 0) {
    for my $k (@keys[1 .. 4]) {
        select undef, undef, undef, 1.2;
        write_file('rotating.credentials', lines($k));
    }
    POSIX::_exit(0);
}

my ($requests, $good) = (0, 0);
my $until = time + 6;
while (time < $until) {
    my $r = $t->get('/rotating/jobs/jobsSuccess1');
    $requests++;
    $good++ if $r->{status} == 200;
}
waitpid $pid, 0;

ok($requests > 50, "requests kept coming while the file changed ($requests)");
is($good, $requests, 'not one lost to the rotations');

my %used = map { /q-ak=(\w+)/ ? ($1 => 1) : () }
           map { $_->[1] } grep { lc $_->[0] eq 'authorization' }
           map { @{ $_->{headers} } } $t->upstream_requests('rotating');
ok(exists $used{ $keys[4][0] }, 'the newest credentials are in use')
    or diag(join ' ', sort keys %used);
ok(keys %used >= 3, 'and the ones in between were, in turn');

# a broken file keeps the last good credentials, and says so once
write_file('rotating.credentials', "SecretId=$keys[0][0]\n");
sleep 1.2;
is($t->get('/rotating/jobs/jobsSuccess1')->{status}, 200,
   'a half-written file: the last good credentials still sign');
$t->get('/rotating/jobs/jobsSuccess1') for 1 .. 3;
my @complaints = $t->error_log =~ /credentials file ".*rotating.credentials" is not usable \(no SecretKey\)/g;
ok(@complaints >= 1 && @complaints <= 2,
   'the broken file is logged once per worker, without its contents');

unlink $t->dir . '/rotating.credentials';
sleep 1.2;
is($t->get('/rotating/jobs/jobsSuccess1')->{status}, 200,
   'a missing file: the last good credentials still sign');

# --- STS tokens ------------------------------------------------------------------

my $r = $t->get('/sts/jobs/jobsSuccess1');
is($r->{status}, 200, 'temporary credentials and their token: 200');
my ($seen) = $t->upstream_requests('sts');
my %h = map { lc $_->[0] => $_->[1] } @{ $seen->{headers} };
is($h{'x-ci-security-token'}, $token, 'the token is sent');
unlike($h{authorization}, qr/x-ci-security-token/, 'and not signed');
unlike($r->{raw}, qr/\Q$token\E/, 'nor given back');

# --- a skewed CI clock -------------------------------------------------------------

$r = $t->get('/skewed/jobs/jobsSuccess1');
is($r->{status}, 200, 'CI two hours ahead: the client still gets a 200');
my @skew = $t->upstream_requests('skewed');
is(scalar @skew, 2, 'one refused signature, one retry');
like($skew[0]{signature}, qr/bad/, 'the first was refused');
is($skew[1]{signature}, 'ok', 'the retry was signed with CI\'s time');

$r = $t->get('/skewed/jobs/jobsSuccess2');
$r = $t->get('/skewed/jobs/jobsSuccess3');
@skew = $t->upstream_requests('skewed');
is(scalar @skew, 4, 'later requests, in either worker, sign right away');
is(scalar(grep { $_->{signature} eq 'ok' } @skew), 3, 'all accepted');
like($t->error_log, qr/the CI clock of "[^"]+" is 7\d\d\d seconds off ours/,
     'the offset is logged');

# --- nothing secret anywhere ---------------------------------------------------------

# every SignKey used: from the KeyTimes CI saw, and the keys
my @sign_keys;
for my $name (qw(rotating sts skewed)) {
    for my $req ($t->upstream_requests($name)) {
        my ($auth) = map { $_->[1] } grep { lc $_->[0] eq 'authorization' }
                     @{ $req->{headers} };
        my ($kt) = ($auth // '') =~ /q-key-time=([\d;]+)/ or next;
        push @sign_keys, hmac_sha1_hex($kt, $_->[1]) for @keys;
        push @sign_keys, hmac_sha1_hex($kt, $CiJobsTest::SECRET_KEY);
    }
}

my $logs = $t->error_log . CiJobsTest::slurp($t->dir . '/access.log');
like($t->error_log, qr/\[debug\]/, 'the error log is at debug');
my @found = grep { index($logs, $_) >= 0 }
            (map { $_->[1] } @keys), $token, $CiJobsTest::SECRET_KEY,
            @sign_keys;
is(scalar @found, 0, 'no secret key, token or SignKey in the logs');
unlike($logs, qr/q-signature=\w/, 'no signature in the logs');

$t->done;
done_testing;
